import CoreMetrics

/// What a ``Replicator`` and a ``Follower`` report through swift-metrics, every series with the
/// dimension `location` = `s3://BUCKET/PREFIX` (docs/observability.md lists them):
/// - `mapstore_replication_objects_total` (counter, `kind` = base / commit): objects uploaded;
/// - `mapstore_replication_bytes_total` (counter): bytes uploaded, compressed;
/// - `mapstore_replication_lag_commits` (gauge): after a round, how many transactions the
///   database is past the one the replica reached (0: caught up);
/// - `mapstore_replication_lag_seconds` (gauge): after a round that shipped a commit, the
///   seconds from reading that commit to its object landing (what the commit's age on arrival
///   is at least; its oldest commit can be up to one interval older);
/// - `mapstore_follow_objects_total` (counter): commit objects a follower applied;
/// - `mapstore_follow_lag_commits` (gauge): after a round, how many transactions the newest
///   object in the bucket is past the one the replica holds.
struct ReplicationMetrics: Sendable {
    let baseObjects: Counter
    let commitObjects: Counter
    let bytes: Counter
    let lagCommits: Gauge
    let lagSeconds: Gauge
    let followObjects: Counter
    let followLagCommits: Gauge

    init(location: ReplicaLocation, factory: (any MetricsFactory)?) {
        let factory = factory ?? MetricsSystem.factory
        let at = [("location", location.description)]
        baseObjects = Counter(label: "mapstore_replication_objects_total", dimensions: at + [("kind", "base")], factory: factory)
        commitObjects = Counter(label: "mapstore_replication_objects_total", dimensions: at + [("kind", "commit")], factory: factory)
        bytes = Counter(label: "mapstore_replication_bytes_total", dimensions: at, factory: factory)
        lagCommits = Gauge(label: "mapstore_replication_lag_commits", dimensions: at, factory: factory)
        lagSeconds = Gauge(label: "mapstore_replication_lag_seconds", dimensions: at, factory: factory)
        followObjects = Counter(label: "mapstore_follow_objects_total", dimensions: at, factory: factory)
        followLagCommits = Gauge(label: "mapstore_follow_lag_commits", dimensions: at, factory: factory)
    }
}
