namespace Dtx.Harness.Checking;

/// <summary>The four kinds of event in a Jepsen-style history.</summary>
public enum OpType
{
    /// <summary>The client is about to send the request.</summary>
    Invoke,
    /// <summary>2xx: the order was accepted.</summary>
    Ok,
    /// <summary>Definitely did not happen: refused connection, 409 (stock short).</summary>
    Fail,
    /// <summary>Indeterminate: timeout, reset after sending, 5xx. It may or may not have happened.</summary>
    Info,
}

/// <summary>
/// One client operation event. Every request is an <see cref="OpType.Invoke"/> followed by exactly one
/// of <see cref="OpType.Ok"/>, <see cref="OpType.Fail"/> or <see cref="OpType.Info"/>.
/// <paramref name="Process"/> is the logical client id (one request at a time per process, as in Jepsen).
/// </summary>
public sealed record Op(
    long Index,
    int Process,
    OpType Type,
    string OrderId,
    string Sku,
    int Qty,
    string CustomerId,
    double AtSeconds,
    DateTimeOffset WallClock,
    string? Detail = null);

/// <summary>
/// What the clients were told about one order id, folded over all its attempts (retries reuse the id).
/// </summary>
/// <param name="Outcome">The strongest completion: Ok beats Info beats Fail.</param>
/// <param name="FailedAfterOk">
/// A definite Fail arrived after the order had already been acknowledged: the service contradicted itself
/// (a retry of an accepted id must be answered idempotently, not with "it did not happen").
/// </param>
/// <param name="FirstInvokedAt">When the client first asked for this order; null only for a completion with no recorded invoke.</param>
public sealed record ClientOrder(
    string OrderId,
    string Sku,
    int Qty,
    string CustomerId,
    OpType Outcome,
    bool FailedAfterOk,
    int Attempts,
    DateTimeOffset? FirstInvokedAt);

/// <summary>An ordered, immutable record of client operations.</summary>
public sealed class History
{
    /// <summary>Detail put on the Info completion synthesised for an invoke that never completed.</summary>
    public const string NoCompletionDetail = "no completion recorded";

    public History(IEnumerable<Op> ops)
    {
        // OrderBy is stable, so events recorded with equal indices keep their recorded order.
        Ops = ops.OrderBy(op => op.Index).ToList();
    }

    public IReadOnlyList<Op> Ops { get; }

    /// <summary>
    /// The final op of each invoke, in history order. An invoke is paired with the next completion of the same
    /// process and order id. An invoke that never completed (the run ended, the client crashed) gets a
    /// synthesised <see cref="OpType.Info"/> completion at the end: nobody knows whether it happened.
    /// A completion with no recorded invoke is kept as is, so that no outcome the client saw is dropped.
    /// </summary>
    public IReadOnlyList<Op> Completions()
    {
        var open = new Dictionary<(int Process, string OrderId), Queue<Op>>();
        var completions = new List<Op>();

        foreach (var op in Ops)
        {
            var key = (op.Process, op.OrderId);
            if (op.Type == OpType.Invoke)
            {
                if (!open.TryGetValue(key, out var queue))
                    open[key] = queue = new Queue<Op>();
                queue.Enqueue(op);
            }
            else
            {
                if (open.TryGetValue(key, out var queue) && queue.Count > 0)
                    queue.Dequeue();
                completions.Add(op);
            }
        }

        var unanswered = open.Values.SelectMany(q => q).OrderBy(op => op.Index);
        completions.AddRange(unanswered.Select(invoke => invoke with { Type = OpType.Info, Detail = NoCompletionDetail }));
        return completions;
    }

    /// <summary>One entry per order id the clients touched, sorted by order id.</summary>
    public IReadOnlyList<ClientOrder> ClientOrders()
    {
        var firstInvoke = Ops
            .Where(op => op.Type == OpType.Invoke)
            .GroupBy(op => op.OrderId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

        return Completions()
            .GroupBy(op => op.OrderId, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Fold(g.ToList(), firstInvoke.GetValueOrDefault(g.Key)))
            .ToList();
    }

    private static ClientOrder Fold(IReadOnlyList<Op> completions, Op? firstInvoke)
    {
        // The order's attributes come from the first time the client asked for it.
        var first = firstInvoke ?? completions[0];
        var outcome = completions.Select(op => op.Type).MaxBy(Strength);

        // Index order is history order; synthesised Infos carry their invoke's index, which does not matter here.
        var firstOk = completions.Where(op => op.Type == OpType.Ok).Select(op => (long?)op.Index).Min();
        var failedAfterOk = firstOk is { } ok && completions.Any(op => op.Type == OpType.Fail && op.Index > ok);

        return new ClientOrder(first.OrderId, first.Sku, first.Qty, first.CustomerId, outcome, failedAfterOk,
            completions.Count, firstInvoke?.WallClock);
    }

    /// <summary>Ok beats Info beats Fail: one acknowledgement is a promise, whatever else the retries saw.</summary>
    private static int Strength(OpType type) => type switch
    {
        OpType.Ok => 3,
        OpType.Info => 2,
        OpType.Fail => 1,
        _ => 0,
    };
}
