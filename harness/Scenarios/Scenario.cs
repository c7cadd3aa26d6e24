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
/// One fault, possibly repeated, at the times in <see cref="At"/> (seconds from the load's start). Three shapes:
/// <list type="bullet">
/// <item><c>crash</c> at a <see cref="Step"/>: a step role (DESIGN.md's table) that each implementation maps to its own
///   failpoint and process, armed with <see cref="Action"/>; the process dies there and is restarted after <see cref="RestartAfter"/>;</item>
/// <item><c>crash</c> of a server <see cref="Target"/> (<c>postgres</c> or <c>rabbitmq</c>): killed, and restarted on
///   the same data and port after <see cref="RestartAfter"/>;</item>
/// <item><c>pause</c> of a service <see cref="Target"/>: SIGSTOP, then SIGCONT after <see cref="Duration"/>;</item>
/// <item>a network fault on <see cref="Links"/> for <see cref="Duration"/>: <c>partition</c> (the link is down),
///   <c>latency</c> (<see cref="Latency"/> ± <see cref="Jitter"/> each way) or <c>reset-peer</c> (connections reset).</item>
/// </list>
/// </summary>
public sealed record FaultPlan(string Kind, string? Step, string? Target, IReadOnlyList<TimeSpan> At, TimeSpan RestartAfter, FailpointSpec? Action, TimeSpan Duration = default)
{
    public static readonly IReadOnlySet<string> NetworkKinds = new HashSet<string> { "partition", "latency", "reset-peer" };

    public IReadOnlyList<string> Links { get; init; } = [];
    public TimeSpan Latency { get; init; }
    public TimeSpan Jitter { get; init; }

    public bool IsNetwork => NetworkKinds.Contains(Kind);

    public static readonly IReadOnlySet<string> Servers = new HashSet<string> { "postgres", "rabbitmq" };

    public bool IsServerCrash => Kind == "crash" && Target is not null && Servers.Contains(Target);
}
