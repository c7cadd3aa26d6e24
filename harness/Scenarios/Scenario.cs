using Dtx.Shared.Failpoints;

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
    TimeSpan DrainDeadline);

/// <summary>An open-model load: arrivals at a fixed rate for a duration, whatever the answers.</summary>
public sealed record LoadPlan(double Rate, TimeSpan Duration, TimeSpan RequestTimeout)
{
    public int Requests => (int)Math.Floor(Rate * Duration.TotalSeconds);
}

public sealed record BusinessPlan(int Skus, long StockPerSku, int Customers, int MaxQty, double RefuseShare);

/// <summary>
/// The protocols' timing knobs. ReplyTimeout, Lease and PollInterval drive LocalTable's outbox relay; TxTimeout,
/// CheckInterval and MaxChecks drive HalfMessage's check-back (RocketMQ's defaults are 6 s, 30 s and 15; scenarios
/// use short ones so that a run sees check-backs within seconds).
/// </summary>
public sealed record ProtocolTiming(TimeSpan ReplyTimeout, TimeSpan Lease, TimeSpan PollInterval, TimeSpan TxTimeout, TimeSpan CheckInterval, int MaxChecks);

/// <summary>
/// One fault, possibly repeated. <see cref="Step"/> names a step role (DESIGN.md's table); each implementation maps
/// it to its own failpoint and process. <see cref="At"/> lists when it is armed, in seconds from the load's start.
/// </summary>
public sealed record FaultPlan(string Kind, string? Step, string? Target, IReadOnlyList<TimeSpan> At, TimeSpan RestartAfter, FailpointSpec Action);
