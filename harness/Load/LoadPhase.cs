namespace Dtx.Harness.Load;

/// <summary>
/// One phase of a load, as NBomber names its load simulations; a load is phases in sequence, each for its
/// <see cref="During"/>. Two are open models — arrivals on a schedule, whether or not earlier orders have answered, so
/// a stall shows in the latencies — and two are closed models: a number of clients, each sending its next order when
/// its last one answered. A closed model reports what the system carries at that concurrency, but it slows down with
/// the system and hides its stalls (coordinated omission), so its latencies are reported for its phase only and never
/// enter a run's latency figures or thresholds.
/// </summary>
public abstract record LoadPhase(TimeSpan During)
{
    /// <summary><c>inject</c>: a constant arrival rate (orders/s).</summary>
    public sealed record Inject(double Rate, TimeSpan During) : LoadPhase(During);

    /// <summary><c>ramping-inject</c>: the arrival rate moves linearly to <see cref="Rate"/> over the phase, from where the previous phase left it (0 after a closed phase or at the start).</summary>
    public sealed record RampingInject(double Rate, TimeSpan During) : LoadPhase(During);

    /// <summary><c>keep-constant</c>: a closed model of a fixed number of clients.</summary>
    public sealed record KeepConstant(int Clients, TimeSpan During) : LoadPhase(During);

    /// <summary><c>ramping-constant</c>: the number of clients moves linearly to <see cref="Clients"/> over the phase, from the previous phase's (0 after an open phase or at the start).</summary>
    public sealed record RampingConstant(int Clients, TimeSpan During) : LoadPhase(During);

    /// <summary>
    /// The most clients a closed phase may have: each is a task with a request in flight, and past the load generator's
    /// connections to the initiator (512) requests would queue inside the harness and measure it, not the system.
    /// </summary>
    public const int MaxClients = 500;

    /// <summary>The shortest phase: a shorter one's ok/s would be a figure of noise.</summary>
    public static readonly TimeSpan MinDuring = TimeSpan.FromMilliseconds(100);

    /// <summary>The names a scenario file uses, one per kind.</summary>
    public static readonly string[] Kinds = ["inject", "ramping-inject", "keep-constant", "ramping-constant"];

    public bool IsOpen => this is Inject or RampingInject;

    public string Kind => this switch
    {
        Inject => "inject",
        RampingInject => "ramping-inject",
        KeepConstant => "keep-constant",
        _ => "ramping-constant",
    };

    /// <summary>The rate (open) or the number of clients (closed) the phase ends at.</summary>
    public double Target => this switch
    {
        Inject p => p.Rate,
        RampingInject p => p.Rate,
        KeepConstant p => p.Clients,
        RampingConstant p => p.Clients,
        _ => throw new InvalidOperationException(),
    };

    /// <summary>Where the phase starts, given the phase before it (null for the first): a ramp goes on from a phase of its own model.</summary>
    public double StartFrom(LoadPhase? previous) => this switch
    {
        Inject p => p.Rate,
        KeepConstant p => p.Clients,
        _ => previous is not null && previous.IsOpen == IsOpen ? previous.Target : 0,
    };

    /// <summary>What the phase does, as a report says it: "ramping-inject 20 → 60/s for 10s".</summary>
    public string Describe(LoadPhase? previous)
    {
        var from = StartFrom(previous);
        var unit = IsOpen ? "/s" : " clients";
        var what = this is Inject or KeepConstant ? $"{Target:0.##}{unit}" : $"{from:0.##} → {Target:0.##}{unit}";
        return $"{Kind} {what} for {During.TotalSeconds:0.###}s";
    }

    /// <summary>
    /// An open phase's arrivals, as offsets from its start: with the rate going linearly from r0 to r1 over D, the
    /// number of arrivals by t is N(t) = r0·t + (r1 − r0)·t²/(2D), and arrival j is due where N(t) = j:
    /// t = 2j / (r0 + √(r0² + 2·slope·j)), the root written so that it stays exact for a flat or nearly flat ramp
    /// (j / r0 for inject). As many as the area under the rate, rounded down (<see cref="ScheduledRequests"/>). Empty
    /// for a closed phase.
    /// </summary>
    public IEnumerable<TimeSpan> Arrivals(LoadPhase? previous)
    {
        var (r0, count) = (StartFrom(previous), ScheduledRequests(previous));
        var slope = (Target - r0) / During.TotalSeconds;
        for (long j = 0; j < count; j++)
            yield return TimeSpan.FromSeconds(j == 0 ? 0 : 2 * j / (r0 + Math.Sqrt(Math.Max(0, r0 * r0 + 2 * slope * j))));
    }

    /// <summary>The area under an open phase's rate (0 for a closed one): the requests it plans, before rounding.</summary>
    public double PlannedRequests(LoadPhase? previous) => IsOpen ? (StartFrom(previous) + Target) / 2 * During.TotalSeconds : 0;

    /// <summary>The arrivals an open phase sends: its planned requests rounded down, as rate × duration always was.</summary>
    public long ScheduledRequests(LoadPhase? previous) => (long)Math.Floor(PlannedRequests(previous) + 1e-9);

    /// <summary>How many clients a closed phase wants at <paramref name="offset"/> from its start: the ramp's value, rounded half up.</summary>
    public int ClientsAt(LoadPhase? previous, TimeSpan offset)
    {
        var from = StartFrom(previous);
        var share = Math.Clamp(offset / During, 0, 1);
        return (int)Math.Floor(from + (Target - from) * share + 0.5);
    }

    /// <summary>
    /// When client <paramref name="k"/> (from 0) of a closed phase sends, as offsets from the phase start: while the
    /// ramp's value is at least k + ½ (so that <see cref="ClientsAt"/> clients are sending at any moment). A rising ramp
    /// starts its later clients later; a falling one stops them earlier. Null when the client never sends.
    /// </summary>
    public (TimeSpan From, TimeSpan To)? ClientWindow(LoadPhase? previous, int k)
    {
        var (from, to, threshold) = (StartFrom(previous), Target, k + 0.5);
        if (from < threshold && to < threshold) return null;
        if (from >= threshold && to >= threshold) return (TimeSpan.Zero, During);
        var crossing = During * ((threshold - from) / (to - from));
        return to > from ? (crossing, During) : (TimeSpan.Zero, crossing);
    }
}
