namespace Dtx.Shared.Hosting;

/// <summary>
/// What one service process did, counted as it goes, for <c>bench</c>'s cost per order: HTTP requests it served
/// (the protocol's, not the harness's control requests), messages RabbitMQ confirmed to it or took from it without a
/// confirm, and deliveries it handled and acked. Process-wide (each service is its own process), a few interlocked
/// increments on the hot path, read over <c>GET /metrics</c>.
/// </summary>
public static class ServiceCounters
{
    private static long _requestsServed, _messagesPublished, _messagesConsumed;

    public static void RequestServed() => Interlocked.Increment(ref _requestsServed);

    public static void MessagePublished() => Interlocked.Increment(ref _messagesPublished);

    public static void MessageConsumed() => Interlocked.Increment(ref _messagesConsumed);

    public static Snapshot Read() =>
        new(Interlocked.Read(ref _requestsServed), Interlocked.Read(ref _messagesPublished), Interlocked.Read(ref _messagesConsumed));

    /// <summary>The counts since the process started; the JSON of <c>GET /metrics</c>.</summary>
    public sealed record Snapshot(long RequestsServed, long MessagesPublished, long MessagesConsumed)
    {
        public static Snapshot operator -(Snapshot after, Snapshot before) =>
            new(after.RequestsServed - before.RequestsServed, after.MessagesPublished - before.MessagesPublished, after.MessagesConsumed - before.MessagesConsumed);
    }
}
