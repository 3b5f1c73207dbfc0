-- What the server keeps for itself, by name (not operator settings: those
-- come from the environment). Today one: `jwt_secret`, the access-token key
-- generated at the first start without JWT_SECRET, kept so that a restart
-- does not sign anyone out (README, "Configuration").
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
