using System.Text.Json.Serialization;

namespace Dtx.Harness.Bench;

// The shape of a bench's result.json. Field names are a public contract (CI scripts parse them): add, never rename.

public sealed record BenchResult(
    string Kind,
    string Machine,
    DateTimeOffset StartedAt,
    double DurationSeconds,
    BenchSettings Settings,
    CeilingFigures Ceilings,
    IReadOnlyList<BenchRun> Runs,
    string Replay);

public sealed record BenchSettings(double StepSeconds, double MeasureSeconds, double P99BoundMs, double StartRate, double MaxRate,
    int Concurrency, int Seed, string Infrastructure);

/// <summary>
/// One implementation: the rate search, the highest rate it sustained, and the figures at that rate and at half of it.
/// <c>ReachedMaxRate</c>: every step up to --max-rate was sustained, so the rate is the cap, not the limit.
/// <c>NotSustainedWhenMeasured</c>: why the longer measurement at that rate did not hold up, when it did not.
/// The ratios are orders/s over each ceiling's operations/s (an order costs about two of a ceiling's operations).
/// </summary>
public sealed record BenchRun(
    string Implementation,
    double MaxSustainedOrdersPerSecond,
    double RatioToRawSql,
    double RatioToPublishConfirmed,
    double? RatioToTxBrokerPrepareCommit,
    IReadOnlyList<BenchStep> Search,
    RateFigures? AtMaxRate,
    RateFigures? AtHalfRate,
    CostPerOrder? CostPerOrder,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error = null,
    bool ReachedMaxRate = false,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? NotSustainedWhenMeasured = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ClosedModelFigures>? ClosedModel = null);

/// <summary>
/// A closed model (<c>--clients</c>): so many clients, each sending its next order when its last one answered, for the
/// measurement's length. <c>OfferedPerSecond</c> is what the clients sent; the latencies are from each send, and they
/// hide stalls (a stalled system slows its clients down), which is why they stand apart from the open-model figures.
/// </summary>
public sealed record ClosedModelFigures(int Clients, RateFigures Figures);

/// <summary>One step of the search: the rate offered, whether it was sustained, and if not, why; <c>Attempt</c> 2 is a failed rate offered once more.</summary>
public sealed record BenchStep(double Rate, bool Sustained, string Why, double OkPerSecond, double ProducerP99Ms, double EndToEndP99Ms, int Attempt = 1);

/// <summary>
/// The figures of one measured step. Producer latency: the client's request, from its scheduled start to the answer.
/// End to end: from the request's start to the participant's commit of that order.
/// </summary>
public sealed record RateFigures(double OfferedPerSecond, double OrdersPerSecond, double ProducerP50Ms, double ProducerP99Ms,
    double EndToEndP50Ms, double EndToEndP99Ms, double ErrorShare, int Orders);

/// <summary>
/// What one order cost, measured over the half-rate step, less the background an idle window of the same length
/// showed (the services poll whether or not orders come: <c>IdleBusinessDbTransactionsPerSecond</c>). Statements include BEGIN and COMMIT; rows written are
/// rows inserted, updated and deleted. The business databases are the initiator's and the participant's; the
/// broker store is txbroker's (half-message only). HTTP round trips count every protocol request any service served
/// (the client's order, prepare, commit, check-back), not the harness's own control requests.
/// </summary>
public sealed record CostPerOrder(
    double? BusinessDbStatements,
    double BusinessDbTransactions,
    double BusinessDbRowsWritten,
    double? BrokerStoreStatements,
    double? BrokerStoreTransactions,
    double? BrokerStoreRowsWritten,
    double Messages,
    double MessagesConsumed,
    double HttpRoundTrips,
    IReadOnlyDictionary<string, double> CpuSecondsPer1000Orders,
    IReadOnlyDictionary<string, double> PeakMemoryMiB)
{
    public double IdleBusinessDbTransactionsPerSecond { get; init; }
}
