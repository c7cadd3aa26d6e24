using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;
using Dtx.Harness.Load;

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

    /// <summary>Bounds on latency, time to consistency and ok/s that fail the run when crossed (<c>thresholds:</c> in the file).</summary>
    public Thresholds Thresholds { get; init; } = Thresholds.None;

    /// <summary>Every fault of a run with this seed: the file's, then the chaos drawn for it.</summary>
    public IReadOnlyList<FaultPlan> FaultsFor(int seed) => Chaos is null ? Faults : [.. Faults, .. Chaos.Draw(seed)];
}

/// <summary>
/// The load: phases in sequence (<see cref="LoadPhase"/>: NBomber's inject, ramping-inject, keep-constant and
/// ramping-constant), a constant rate being one inject phase. <see cref="MinCreatedShare"/> is the progress a run must
/// make to pass: the share of requested orders that must end up created at the participant, so that a run in which
/// the faults stopped everything cannot pass by having checked nothing. With <see cref="Retries"/>, a request whose
/// answer was indeterminate is sent again with the same order id after <see cref="RetryBackoff"/>, as a careful client
/// does; placing an order must be idempotent for that to be safe.
/// </summary>
public sealed record LoadPlan(IReadOnlyList<LoadPhase> Phases, TimeSpan RequestTimeout, double MinCreatedShare = LoadPlan.DefaultMinCreatedShare,
    int Retries = 0, TimeSpan RetryBackoff = default)
{
    public const double DefaultMinCreatedShare = 0.25;

    /// <summary>A constant arrival rate for a duration: one inject phase, the load most scenarios have.</summary>
    public static LoadPlan Constant(double rate, TimeSpan duration, TimeSpan requestTimeout) => new([new LoadPhase.Inject(rate, duration)], requestTimeout);

    public TimeSpan Duration => Phases.Aggregate(TimeSpan.Zero, (sum, phase) => sum + phase.During);

    /// <summary>Each phase with the one before it (null for the first), which a ramp starts from.</summary>
    public IEnumerable<(LoadPhase Phase, LoadPhase? Previous)> WithPrevious => Phases.Select((phase, i) => (phase, i == 0 ? null : Phases[i - 1]));

    /// <summary>The rate of a load that is one inject phase, or null.</summary>
    public double? ConstantRate => Phases is [LoadPhase.Inject only] ? only.Rate : null;

    public bool HasClosedPhase => Phases.Any(p => !p.IsOpen);

    /// <summary>The requests the open phases send; a closed phase adds what its clients manage to send.</summary>
    public long ScheduledRequests => WithPrevious.Sum(p => p.Phase.ScheduledRequests(p.Previous));

    /// <summary>
    /// The rate a report heads the run with: the constant one, or the open phases' requests over the whole load (0
    /// when every phase is closed); <see cref="Describe"/> says the phases.
    /// </summary>
    public double NominalRate => ConstantRate ?? ScheduledRequests / Duration.TotalSeconds;

    /// <summary>The phases as a report says them: "inject 40/s for 20s", or several joined by "; then ".</summary>
    public string Describe() => string.Join("; then ", WithPrevious.Select(p => p.Phase.Describe(p.Previous)));

    /// <summary>The same phases, each stretched or shrunk in proportion so that the load lasts <paramref name="duration"/> (<c>--duration</c>).</summary>
    public LoadPlan Lasting(TimeSpan duration) => this with
    {
        Phases = [.. Phases.Select(phase => phase with { During = phase.During * (duration / Duration) })],
    };
}

public sealed record BusinessPlan(int Skus, long StockPerSku, int Customers, int MaxQty, double RefuseShare);

/// <summary>
/// The protocols' timing knobs. ReplyTimeout, Lease and PollInterval drive LocalTable's outbox relay; TxTimeout,
/// CheckInterval and MaxChecks drive HalfMessage's check-back (RocketMQ's defaults are 6 s, 30 s and 15; scenarios
/// use short ones so that a run sees check-backs within seconds).
/// </summary>
public sealed record ProtocolTiming(TimeSpan ReplyTimeout, TimeSpan Lease, TimeSpan PollInterval, TimeSpan TxTimeout, TimeSpan CheckInterval, int MaxChecks);

/// <summary>
/// Bounds a run must stay within besides its invariants, as NBomber's thresholds are: a reference that keeps every
/// promise but answers too slowly, reaches consistency too late or carries too little fails, so that a nightly run
/// catches a regression in speed as well as in safety. Each bound is optional (null: none). Latency is every
/// request's, from its scheduled start to its end (<c>latencyAllRequests</c> in result.json: a timeout counts at the
/// timeout), so that a fault turning slow answers into timeouts cannot bring the figure under a bound; time to
/// consistency is from the request to the participant's commit.
/// </summary>
public sealed record Thresholds(double? LatencyP50Ms = null, double? LatencyP99Ms = null, double? TimeToConsistencyP50Ms = null,
    double? TimeToConsistencyP99Ms = null, double? MinOkPerSecond = null)
{
    public static readonly Thresholds None = new();

    public bool HasLatencyBound => LatencyP50Ms is not null || LatencyP99Ms is not null;

    /// <summary>The upper bounds in milliseconds, each with its name as reports say it.</summary>
    private IEnumerable<(string What, double? BoundMs, string Unmeasured)> Ceilings =>
    [
        ("latency p50 of every request", LatencyP50Ms, NoRequest), ("latency p99 of every request", LatencyP99Ms, NoRequest),
        ("time to consistency p50", TimeToConsistencyP50Ms, NoneConsistent), ("time to consistency p99", TimeToConsistencyP99Ms, NoneConsistent),
    ];

    private const string NoRequest = "no request was made";
    private const string NoneConsistent = "no order reached consistency";

    /// <summary>The bounds set, as a report's settings line says them: "latency p99 ≤ 800 ms, at least 30 ok/s".</summary>
    public string Describe() => string.Join(", ", Ceilings.Where(c => c.BoundMs is not null).Select(c => $"{c.What} ≤ {c.BoundMs:0.#} ms")
        .Concat(MinOkPerSecond is { } least ? [$"at least {least:0.##} ok/s"] : []));

    /// <summary>One line per bound the run crossed. A bound with nothing to measure (no request, no order consistent) counts as crossed: it was not shown to hold.</summary>
    /// <param name="latency">Every request's latency (<c>latencyAllRequests</c>).</param>
    public IReadOnlyList<string> CrossedBy(Latency latency, TimeToConsistency timeToConsistency, Throughput throughput)
    {
        var requested = latency != Latency.None;
        var consistent = timeToConsistency.Orders > 0;
        double?[] measured = [requested ? latency.P50Ms : null, requested ? latency.P99Ms : null,
            consistent ? timeToConsistency.P50Ms : null, consistent ? timeToConsistency.P99Ms : null];
        var crossed = new List<string>();
        foreach (var ((what, boundMs, unmeasured), ms) in Ceilings.Zip(measured))
        {
            if (boundMs is not { } bound) continue;
            if (ms is not { } value)
                crossed.Add($"threshold not shown: {what} must be at most {bound:0.##} ms, but {unmeasured}");
            else if (value > bound)
                crossed.Add($"threshold crossed: {what} {value:0.##} ms, above the {bound:0.##} ms the scenario allows");
        }
        if (MinOkPerSecond is { } least && throughput.OkPerSecond < least)
            crossed.Add($"threshold crossed: {throughput.OkPerSecond:0.##} ok/s, below the {least:0.##} ok/s the scenario needs");
        return crossed;
    }
}
