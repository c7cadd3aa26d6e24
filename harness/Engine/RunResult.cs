using System.Text.Json.Serialization;
using Dtx.Harness.Checking;
using Dtx.Harness.Faults;
using Dtx.Harness.Implementations;

namespace Dtx.Harness.Engine;

// The shape of result.json. Field names are a public contract (CI scripts parse them): add, never rename.

public sealed record ScenarioResult(
    string Scenario,
    string Description,
    int Seed,
    double DurationSeconds,
    DateTimeOffset StartedAt,
    string Infrastructure,
    ScenarioSettings Settings,
    IReadOnlyList<ImplementationRun> Runs,
    string Replay = "")
{
    /// <summary>Every run passed; a run to which no fault of the scenario applied does not count against it.</summary>
    public bool Passed => Runs.All(r => r.Verdict is Verdict.Pass or Verdict.NotApplicable or Verdict.FailedAsExpected);
}

/// <summary>
/// The scenario's load and business set-up as run; <see cref="Thresholds"/> is null when the scenario sets none.
/// <see cref="Rate"/> is the constant rate, or for a load of phases its open phases' requests over the load (see
/// <c>Scenarios.LoadPlan.NominalRate</c>); <see cref="Load"/> says the phases ("inject 40/s for 20s").
/// </summary>
public sealed record ScenarioSettings(double Rate, double LoadSeconds, double DrainDeadlineSeconds, int Skus, long StockPerSku, int Customers, double RefuseShare,
    Scenarios.Thresholds? Thresholds = null, string Load = "")
{
    /// <summary>
    /// The phases of a load that is more than one constant rate; null for a constant rate (said by <see cref="Rate"/>
    /// and <see cref="LoadSeconds"/>) and in a result.json from before phases, so that those still compare alike.
    /// </summary>
    [JsonIgnore]
    public string? Phases => Load is { Length: > 0 } load && (!load.StartsWith("inject ", StringComparison.Ordinal) || load.Contains("; then ", StringComparison.Ordinal)) ? load : null;
}

/// <summary>
/// One phase of the load as it ran: the requests that started in it, how they ended, ok/s over the phase, and their
/// latencies. A closed phase's (<see cref="ClosedModel"/>) latencies are from each send, kept here and out of the run's.
/// </summary>
public sealed record PhaseFigures(int Index, string Kind, string Shape, bool ClosedModel, double FromSeconds, double ToSeconds,
    int Requested, int Ok, int Failed, int Indeterminate, double OkPerSecond, Latency Latency, Latency LatencyAllRequests)
{
    public static PhaseFigures Of(Load.PhaseStats stats, int index) => new(index, stats.Phase.Kind, stats.Shape, !stats.Phase.IsOpen,
        Math.Round(stats.FromSeconds, 3), Math.Round(stats.ToSeconds, 3), stats.Requested, stats.Ok, stats.Failed, stats.Indeterminate,
        Math.Round(stats.Ok / (stats.ToSeconds - stats.FromSeconds), 2), Latency.Of(stats.OkLatenciesMs), Latency.Of(stats.AllLatenciesMs));
}

public sealed record ImplementationRun(
    string Implementation,
    Verdict Verdict,
    IReadOnlyList<string> Reasons,
    IReadOnlyList<InvariantResult> Invariants,
    IReadOnlyList<FaultRecord> Faults,
    RunCounts Counts,
    Throughput Throughput,
    Latency Latency,
    Latency LatencyAllRequests,
    TimeToConsistency TimeToConsistency,
    Drain Drain,
    IReadOnlyList<string> Logs,
    string? Error = null,
    IReadOnlyList<string>? Expected = null,
    IReadOnlyList<ParkedMessage>? ParkedMessages = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Mutant = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Timeline? Timeline = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<OrderTrace>? Traces = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] RunCost? Cost = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<PhaseFigures>? Phases = null);

/// <summary>The check-back figures exist only for an implementation with check-back; they are left out of the JSON otherwise.</summary>
public sealed record RunCounts(
    int Requested, int Ok, int Failed, int Indeterminate,
    int OrdersCreated, int OrdersRejected,
    long DuplicatesDelivered, long Republished,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? CheckBacksSent = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? CheckBacksAnswered = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? UnexpectedCheckBacks = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Parked = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? FencedByCheckBack = null,
    int Retried = 0,
    int RetriedAlreadyPlaced = 0,
    int ParkedMessages = 0,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? RepliesFencedByCheckBack = null);

public sealed record Throughput(double OkPerSecond, double RequestedPerSecond);

/// <summary>
/// Percentiles from each request's scheduled start. <c>latency</c> counts the requests answered ok;
/// <c>latencyAllRequests</c> counts every request at the time it ended, failed or indeterminate (a timeout at the timeout),
/// so a fault that turns slow answers into errors cannot make the figures look better.
/// </summary>
public sealed record Latency(double P50Ms, double P90Ms, double P99Ms, double MaxMs, double P999Ms = 0)
{
    public static readonly Latency None = new(0, 0, 0, 0);

    public static Latency Of(IReadOnlyList<double> ms)
    {
        if (ms.Count == 0) return None;
        var sorted = ms.Order().ToList();
        return new(Checker.NearestRank(sorted, 50), Checker.NearestRank(sorted, 90), Checker.NearestRank(sorted, 99), sorted[^1], Checker.NearestRank(sorted, 99.9));
    }
}

public sealed record Drain(bool Converged, double Seconds, InDoubt LeftInDoubt);
