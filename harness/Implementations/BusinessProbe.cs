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
        var queued = await QueueDepth.CountAsync(target.Amqp, ct, queues.Orders, queues.Replies);
        return ((int)pending, (int)queued);
    }

    public static async Task<long> DuplicatesDeliveredAsync(RunTarget target, CancellationToken ct)
    {
        await using var orders = Database.Open(target.OrdersDb, "harness-probe");
        return await Sql.ScalarAsync(orders, "SELECT coalesce(sum(duplicates), 0) FROM inbox", ct);
    }
}
