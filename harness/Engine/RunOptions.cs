using Dtx.Harness.Implementations;

namespace Dtx.Harness.Engine;

/// <summary>What the command line decided for a scenario run; null overrides keep the scenario file's values.</summary>
public sealed record RunOptions(
    IReadOnlyList<IImplementation> Implementations,
    int Seed,
    double? Rate,
    TimeSpan? Duration,
    string ReportsRoot,
    string? Postgres,
    string? Amqp,
    bool KeepDatabases,
    string? Toxiproxy = null);
