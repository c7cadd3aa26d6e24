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

    /// <summary>The most clients a closed phase may have: each is a task with a request in flight.</summary>
    public const int MaxClients = 10_000;

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
    /// number of arrivals by t is N(t) = r0·t + (r1 − r0)·t²/(2D), and arrival j is due where N(t) = j. Empty for a
    /// closed phase.
    /// </summary>
    public IEnumerable<TimeSpan> Arrivals(LoadPhase? previous)
    {
        if (!IsOpen) yield break;
        var (r0, r1, d) = (StartFrom(previous), Target, During.TotalSeconds);
        var slope = (r1 - r0) / d;
        for (long j = 0; ; j++)
        {
            double t;
            if (Math.Abs(slope) < 1e-9) t = r0 > 0 ? j / r0 : double.PositiveInfinity;
            else
            {
                var root = r0 * r0 + 2 * slope * j;
                t = root < 0 ? double.PositiveInfinity : (-r0 + Math.Sqrt(root)) / slope;
            }
            if (!(t < d)) yield break;
            yield return TimeSpan.FromSeconds(t);
        }
    }

    /// <summary>The arrivals an open phase schedules (0 for a closed one): the area under its rate.</summary>
    public double PlannedRequests(LoadPhase? previous) => IsOpen ? (StartFrom(previous) + Target) / 2 * During.TotalSeconds : 0;

    /// <summary>How many clients a closed phase wants at <paramref name="offset"/> from its start.</summary>
    public int ClientsAt(LoadPhase? previous, TimeSpan offset)
    {
        var from = StartFrom(previous);
        var share = Math.Clamp(offset / During, 0, 1);
        return (int)Math.Round(from + (Target - from) * share);
    }
}
