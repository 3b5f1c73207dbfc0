-- What the server keeps for itself, by name (not operator settings: those
-- come from the environment). The same table as on SQLite, where
-- `jwt_secret` (the access-token key generated at the first start without
-- JWT_SECRET) lives; Postgres requires JWT_SECRET, so it stays empty here
-- until another setting needs it (README, "Configuration").
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
