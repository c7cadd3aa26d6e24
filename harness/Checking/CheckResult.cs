namespace Dtx.Harness.Checking;

/// <summary>The verdict on one invariant.</summary>
/// <param name="Examples">At most 10 offending ids (order ids, or skus / customer ids where the invariant is about those), sorted ordinally.</param>
/// <param name="Description">One sentence saying what the invariant means, for a report.</param>
public sealed record InvariantResult(
    string Name,
    bool Ok,
    int Violations,
    IReadOnlyList<string> Examples,
    string Description);

/// <summary>How long resolved orders took from the client's first invoke to the initiator's resolution (nearest-rank percentiles).</summary>
public sealed record TimeToConsistency(double P50Ms, double P99Ms, double MaxMs, int Orders)
{
    public static readonly TimeToConsistency None = new(0, 0, 0, 0);
}

/// <summary>All eight invariants, always in <see cref="Checker.InvariantNames"/> order, and the time to consistency.</summary>
public sealed record CheckResult(IReadOnlyList<InvariantResult> Invariants, TimeToConsistency TimeToConsistency)
{
    public bool Valid => Invariants.All(i => i.Ok);

    /// <summary>Each resolved order's time to consistency, ascending: the report's histogram.</summary>
    public IReadOnlyList<double> TimeToConsistencyMs { get; init; } = [];
}

/// <summary>
/// Context for a verdict, in the spirit of Jepsen's total-queue counts: what was attempted and how it ended.
/// None of these is a violation by itself.
/// </summary>
/// <param name="Orders">Distinct order ids the clients invoked.</param>
/// <param name="Acknowledged">Orders whose strongest outcome was Ok.</param>
/// <param name="Failed">Orders whose every completion was a definite Fail.</param>
/// <param name="Indeterminate">Orders whose strongest outcome was Info.</param>
/// <param name="Recovered">Indeterminate orders that did happen (present at the initiator).</param>
/// <param name="Created">Participant orders recorded as created.</param>
/// <param name="Rejected">Participant orders recorded as rejected.</param>
/// <param name="Compensated">Initiator orders compensated (restocked).</param>
public sealed record CheckCounts(
    int Orders,
    int Acknowledged,
    int Failed,
    int Indeterminate,
    int Recovered,
    int Created,
    int Rejected,
    int Compensated);

/// <summary>
/// Orders requested and, of them, created: over the requests made between and after the faults that fail requests
/// (<paramref name="OutsideFaults"/>), or over every request; and <see cref="AfterFaults"/> the same over the orders
/// requested after the last fault ended, when there were enough of them to judge. See <see cref="Checker.ProgressOf"/>.
/// </summary>
public sealed record Progress(int Requested, int Created, bool OutsideFaults)
{
    public (int Requested, int Created)? AfterFaults { get; init; }
}
