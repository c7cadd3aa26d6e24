namespace Dtx.Harness.Checking;

/// <summary>The initiator's record of an order.</summary>
public enum InitiatorStatus
{
    /// <summary>Stock deducted, awaiting the participant's reply.</summary>
    Pending,
    /// <summary>The participant created the order.</summary>
    Done,
    /// <summary>The participant rejected the order and the stock was restocked.</summary>
    Compensated,
}

/// <summary>The participant's record of an order.</summary>
public enum ParticipantStatus { Created, Rejected }

/// <summary>An order as read from the initiator's database after the drain.</summary>
/// <param name="Restocks">Rows in the initiator's compensation ledger for this order.</param>
public sealed record InitiatorOrder(
    string OrderId,
    string Sku,
    int Qty,
    string CustomerId,
    InitiatorStatus Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ResolvedAt,
    int Restocks);

/// <summary>An order as read from the participant's database after the drain.</summary>
/// <param name="Applications">How many times the participant applied this order id: more than 1 is a duplicate effect.</param>
public sealed record ParticipantOrder(
    string OrderId,
    string Sku,
    int Qty,
    string CustomerId,
    ParticipantStatus Status,
    DateTimeOffset ProcessedAt,
    int Applications);

/// <summary>Everything the checker needs from the databases, read once after the drain.</summary>
/// <param name="InitialStock">sku → available at the start.</param>
/// <param name="FinalStock">sku → available after the drain.</param>
/// <param name="CustomerSpend">customer → running total at the participant.</param>
/// <param name="InDoubt">What was still in doubt when the drain ended.</param>
public sealed record GroundTruth(
    IReadOnlyDictionary<string, long> InitialStock,
    IReadOnlyDictionary<string, long> FinalStock,
    IReadOnlyList<InitiatorOrder> InitiatorOrders,
    IReadOnlyList<ParticipantOrder> ParticipantOrders,
    IReadOnlyDictionary<string, long> CustomerSpend,
    InDoubt InDoubt,
    bool DrainedBeforeDeadline);

/// <summary>Work the system had not finished when the drain ended.</summary>
/// <param name="OtherInDoubt">Implementation-specific, e.g. half messages not yet resolved.</param>
public sealed record InDoubt(int OutboxRows, int QueuedMessages, int PendingOrders, int OtherInDoubt)
{
    public bool Any => OutboxRows + QueuedMessages + PendingOrders + OtherInDoubt > 0;

    /// <summary>What is in doubt, in words, naming only what is there: "12 outbox rows, 3 queued messages".</summary>
    public string Describe()
    {
        var parts = new[] { (OutboxRows, "outbox rows"), (QueuedMessages, "queued messages"), (PendingOrders, "pending orders"), (OtherInDoubt, "half messages in doubt") }
            .Where(p => p.Item1 > 0).Select(p => $"{p.Item1} {p.Item2}").ToList();
        return parts.Count == 0 ? "nothing in doubt" : string.Join(", ", parts);
    }
}
