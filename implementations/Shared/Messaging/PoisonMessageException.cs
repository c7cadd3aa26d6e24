namespace Dtx.Shared.Messaging;

/// <summary>
/// A delivery that can never be applied however often it is tried — a body that is not a valid order, a message id
/// that cannot be deduplicated — as opposed to a failure that may pass (a database or txbroker that is down). The
/// consumer retries it a bounded number of times, then parks it for a person to look at (manual intervention)
/// instead of letting it circulate forever. <see cref="OrderId"/> is the order it claims to be, when it names one.
/// </summary>
public sealed class PoisonMessageException(string reason, string? orderId = null) : Exception(reason)
{
    public string? OrderId { get; } = orderId;
}

/// <summary>
/// How often a poison delivery has been tried in this process, and when it was first tried: parked with the message,
/// so a reader can see what flowed past it (<c>parked_messages.first_tried_at</c> to <c>parked_at</c>).
/// </summary>
public sealed record PoisonTries(int Attempts, DateTimeOffset FirstTriedAt);
