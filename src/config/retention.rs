//! Retention settings (`RETENTION_*`, README "Retention"): how long the
//! room log keeps events, and how it is cut in time partitions (Postgres).

use std::time::Duration;

/// Retention settings (`RETENTION_*`), read by the pruner (both limits
/// unset: nothing is pruned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Events older than this are pruned.
    pub max_age: Option<Duration>,
    /// Only the newest this many events of each room are kept.
    pub max_events: Option<i64>,
    /// Between two passes of the pruner (and of the partition maintenance,
    /// which runs on Postgres with no limit set too).
    pub interval: Duration,
    /// The room log's time partitions (Postgres), derived from `max_age`.
    pub partitions: PartitionLayout,
}

/// How the room log is cut in time partitions (Postgres): each `width`
/// long, always `ahead` of now created in advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLayout {
    pub width: Duration,
    pub ahead: Duration,
}

impl PartitionLayout {
    const DAY: Duration = Duration::from_secs(86_400);

    /// An eighth of the age limit, between a day and 30 days (30 days
    /// without one), and two widths ahead: with an age limit, events live
    /// at most an eighth longer than it, and about ten partitions exist.
    pub fn for_max_age(max_age: Option<Duration>) -> Self {
        let width = max_age.map_or(30 * Self::DAY, |age| {
            (age / 8).clamp(Self::DAY, 30 * Self::DAY)
        });
        PartitionLayout {
            width,
            ahead: 2 * width,
        }
    }
}

impl Default for PartitionLayout {
    fn default() -> Self {
        Self::for_max_age(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_an_eighth_of_the_age_between_a_day_and_a_month() {
        let day = Duration::from_secs(86_400);
        let layout = |days: Option<u32>| PartitionLayout::for_max_age(days.map(|d| d * day));
        assert_eq!(layout(Some(80)).width, 10 * day);
        assert_eq!(layout(Some(80)).ahead, 20 * day);
        assert_eq!(layout(Some(1)).width, day);
        assert_eq!(layout(Some(3650)).width, 30 * day);
        assert_eq!(layout(None).width, 30 * day);
        assert_eq!(PartitionLayout::default(), layout(None));
    }
}
