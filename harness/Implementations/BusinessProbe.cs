using Dtx.Harness.Checking;
using Dtx.Shared.Messaging;
using Dtx.Shared.Sql;

namespace Dtx.Harness.Implementations;

/// <summary>
/// What is in doubt, or was absorbed, the same way in every implementation, because they share the business
/// tables, the inbox and the two queues: orders still pending at the initiator, messages waiting in the queues,
/// duplicates the participant's inbox turned away.
/// </summary>
public static class BusinessProbe
{
    public static async Task<(int PendingOrders, int QueuedMessages)> PendingAndQueuedAsync(RunTarget target, CancellationToken ct)
    {
        await using var inventory = Database.Open(target.InventoryDb, "harness-probe");
        var pending = await Sql.ScalarAsync(inventory, "SELECT count(*) FROM inventory_orders WHERE status = 'pending'", ct);
        var queues = QueueNames.For(target.QueuePrefix);
        var queued = await BrokerQueues.CountAsync(target.Amqp, ct, queues.Orders, queues.Replies);
        return ((int)pending, (int)queued);
    }

    /// <summary>
    /// What the participant parked for manual attention, oldest first, with what flowed past each while it was retried:
    /// how many other messages the participant applied, and the longest time in which it applied none. A poison message
    /// that held its queue back would show a gap as long as its longest back-off.
    /// </summary>
    public static async Task<IReadOnlyList<ParkedMessage>> ParkedMessagesAsync(RunTarget target, CancellationToken ct)
    {
        await using var orders = Database.Open(target.OrdersDb, "harness-probe");
        // One window per parked message, from its first try to its parking: the other messages applied in it, and the
        // longest gap between consecutive moments (the window's two ends and each application).
        await using var read = orders.CreateCommand("""
            SELECT p.message_id, p.order_id, p.reason, p.attempts, w.applied, w.longest_still_ms
            FROM parked_messages p
            CROSS JOIN LATERAL (
                SELECT count(*) FILTER (WHERE applied) AS applied,
                       coalesce(max(extract(epoch FROM t - before) * 1000), 0)::float8 AS longest_still_ms
                FROM (
                    SELECT t, applied, lag(t) OVER (ORDER BY t) AS before FROM (
                        SELECT p.first_tried_at AS t, false AS applied
                        UNION ALL SELECT p.parked_at, false
                        UNION ALL SELECT i.received_at, true FROM inbox i WHERE i.received_at > p.first_tried_at AND i.received_at < p.parked_at
                    ) moments
                ) gaps
            ) w
            ORDER BY p.parked_at
            """);
        var parked = new List<ParkedMessage>();
        await using var reader = await read.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            parked.Add(new ParkedMessage(reader.IsDBNull(0) ? null : reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.GetString(2), reader.GetInt32(3), reader.GetInt64(4), Math.Round(reader.GetDouble(5), 1)));
        return parked;
    }

    /// <summary>Every application of these orders at the participant, in order: a second one is a duplicate effect.</summary>
    public static async Task<IReadOnlyList<TraceStep>> ApplicationsAsync(RunTarget target, IReadOnlyCollection<string> orderIds, CancellationToken ct)
    {
        await using var orders = Database.Open(target.OrdersDb, "harness-probe");
        await using var read = orders.CreateCommand("""
            SELECT order_id, applied_at, row_number() OVER (PARTITION BY order_id ORDER BY applied_at)
            FROM order_applications WHERE order_id = ANY(@ids) ORDER BY applied_at
            """);
        read.Parameters.AddWithValue("ids", orderIds.ToArray());
        var steps = new List<TraceStep>();
        await using var reader = await read.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            steps.Add(new TraceStep(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), "participant",
                reader.GetInt64(2) == 1 ? "applied the order in its local transaction" : $"applied the order again (application {reader.GetInt64(2)})"));
        return steps;
    }

    public static async Task<long> DuplicatesDeliveredAsync(RunTarget target, CancellationToken ct)
    {
        await using var orders = Database.Open(target.OrdersDb, "harness-probe");
        return await Sql.ScalarAsync(orders, "SELECT coalesce(sum(duplicates), 0) FROM inbox", ct);
    }
}

/// <summary>
/// A message the participant parked for manual attention, as result.json lists it. Between its first try and its
/// parking, <see cref="AppliedWhileRetried"/> other messages were applied, and <see cref="LongestStillMs"/> is the
/// longest time in which none was.
/// </summary>
public sealed record ParkedMessage(string? MessageId, string? OrderId, string Reason, int Attempts, long AppliedWhileRetried = 0, double LongestStillMs = 0);
