using Dtx.Harness.Faults;

namespace Dtx.Harness.Scenarios;

/// <summary>
/// A scenario: the load, the business set-up, the protocol's timing knobs, the faults and the drain. It is data
/// (a YAML file under scenarios/); the engine runs the same scenario against every selected implementation.
/// </summary>
public sealed record Scenario(
    string Name,
    string Description,
    LoadPlan Load,
    BusinessPlan Business,
    ProtocolTiming Protocol,
    IReadOnlyList<FaultPlan> Faults,
    TimeSpan DrainDeadline)
{
    /// <summary>
    /// Per implementation, the invariants this scenario is expected to violate: a weakness the scenario exists to show
    /// (a baseline without an outbox, a pattern with no answer to a lost message). Such a run fails as expected; one
    /// that holds them after all, or violates others, fails for real.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Expect { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    public IReadOnlyList<string> ExpectedViolations(string implementation) => Expect.GetValueOrDefault(implementation) ?? [];

    /// <summary>Faults drawn from the run's seed on top of <see cref="Faults"/> (<c>chaos:</c> in the file), or null.</summary>
    public ChaosPlan? Chaos { get; init; }

    /// <summary>Every fault of a run with this seed: the file's, then the chaos drawn for it.</summary>
    public IReadOnlyList<FaultPlan> FaultsFor(int seed) => Chaos is null ? Faults : [.. Faults, .. Chaos.Draw(seed)];
}

/// <summary>
/// An open-model load: arrivals at a fixed rate for a duration, whatever the answers. <see cref="MinCreatedShare"/> is
/// the progress a run must make to pass: the share of requested orders that must end up created at the participant,
/// so that a run in which the faults stopped everything cannot pass by having checked nothing. With
/// <see cref="Retries"/>, a request whose answer was indeterminate is sent again with the same order id after
/// <see cref="RetryBackoff"/>, as a careful client does; placing an order must be idempotent for that to be safe.
/// </summary>
public sealed record LoadPlan(double Rate, TimeSpan Duration, TimeSpan RequestTimeout, double MinCreatedShare = LoadPlan.DefaultMinCreatedShare,
    int Retries = 0, TimeSpan RetryBackoff = default)
{
    public const double DefaultMinCreatedShare = 0.25;

    public int Requests => (int)Math.Floor(Rate * Duration.TotalSeconds);
}

public sealed record BusinessPlan(int Skus, long StockPerSku, int Customers, int MaxQty, double RefuseShare);

/// <summary>
/// The protocols' timing knobs. ReplyTimeout, Lease and PollInterval drive LocalTable's outbox relay; TxTimeout,
/// CheckInterval and MaxChecks drive HalfMessage's check-back (RocketMQ's defaults are 6 s, 30 s and 15; scenarios
/// use short ones so that a run sees check-backs within seconds).
/// </summary>
public sealed record ProtocolTiming(TimeSpan ReplyTimeout, TimeSpan Lease, TimeSpan PollInterval, TimeSpan TxTimeout, TimeSpan CheckInterval, int MaxChecks);
