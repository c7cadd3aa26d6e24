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
        // The invoke each client and order has open, and only where a history has several open at once (a client
        // never does; a hand-made history may) the ones behind it, first in first out. A queue for every invoke cost a
        // 600,000-order run about 60 MB of small objects.
        var open = new Dictionary<(int Process, string OrderId), Op>();
        Dictionary<(int Process, string OrderId), Queue<Op>>? behind = null;
        var completions = new List<Op>(Ops.Count / 2 + 1);

        foreach (var op in Ops)
        {
            var key = (op.Process, op.OrderId);
            if (op.Type == OpType.Invoke)
            {
                if (open.TryAdd(key, op)) continue;
                behind ??= [];
                if (!behind.TryGetValue(key, out var queue)) behind[key] = queue = new Queue<Op>();
                queue.Enqueue(op);
            }
            else
            {
                if (open.Remove(key) && behind is not null && behind.TryGetValue(key, out var queue))
                {
                    open[key] = queue.Dequeue();
                    if (queue.Count == 0) behind.Remove(key);
                }
                completions.Add(op);
            }
        }

        var unanswered = open.Values.Concat(behind?.Values.SelectMany(q => q) ?? []).OrderBy(op => op.Index);
        completions.AddRange(unanswered.Select(invoke => invoke with { Type = OpType.Info, Detail = NoCompletionDetail }));
        return completions;
    }

    /// <summary>One entry per order id the clients touched, sorted by order id.</summary>
    /// <remarks>Folded once and kept: the check and the counts both read it, and a long run's fold takes seconds.</remarks>
    public IReadOnlyList<ClientOrder> ClientOrders() => _clientOrders ??= FoldClientOrders();

    private IReadOnlyList<ClientOrder>? _clientOrders;

    private List<ClientOrder> FoldClientOrders()
    {
        var firstInvoke = new Dictionary<string, Op>(StringComparer.Ordinal);
        foreach (var op in Ops)
            if (op.Type == OpType.Invoke) firstInvoke.TryAdd(op.OrderId, op);

        // Sorted by order id, then history order, and folded a run of equal ids at a time: no group object per order
        // (GroupBy made one, with its own array, for each of a long run's hundreds of thousands of orders).
        var completions = Completions().OrderBy(op => op.OrderId, StringComparer.Ordinal).ThenBy(op => op.Index).ToArray();
        var orders = new List<ClientOrder>(firstInvoke.Count);
        for (var start = 0; start < completions.Length;)
        {
            var end = start + 1;
            while (end < completions.Length && string.Equals(completions[end].OrderId, completions[start].OrderId, StringComparison.Ordinal)) end++;
            orders.Add(Fold(new ArraySegment<Op>(completions, start, end - start), firstInvoke.GetValueOrDefault(completions[start].OrderId)));
            start = end;
        }
        return orders;
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
