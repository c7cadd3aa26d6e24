using System.Globalization;
using Dtx.Harness.Implementations;
using Dtx.Harness.Scenarios;
using Dtx.Shared.Failpoints;

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
    string? Toxiproxy = null,
    string? ScenarioSource = null,
    string? Mutant = null,
    bool ProxyAll = false)
{
    /// <summary>The command line that runs the same scenario again: the same orders, the same fault schedule.</summary>
    public string Replay(Scenario scenario)
    {
        var impl = Implementations.Count == 1 ? Implementations[0].Name : "all";
        var line = $"./run.sh scenario {ScenarioSource ?? scenario.Name} --impl {impl} --seed {Seed.ToString(CultureInfo.InvariantCulture)}";
        if (Rate is { } rate) line += $" --rate {rate.ToString(CultureInfo.InvariantCulture)}";
        if (Duration is { } duration) line += $" --duration {FailpointSpec.FormatDuration(duration)}";
        if (Mutant is { } mutant) line += $" --mutant {mutant}";
        if (ProxyAll) line += " --proxy-all";
        return line;
    }
}
