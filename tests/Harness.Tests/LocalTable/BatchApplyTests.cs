using Dtx.Shared.Business;
using Dtx.Shared.Sql;
using Dtx.Tests.Support;
using Npgsql;
using Xunit;

namespace Dtx.Tests.LocalTable;

/// <summary>
/// The consumers apply the deliveries waiting together in one transaction. These drive the set-based steps by hand on
/// real PostgreSQL with the cases a batch adds: two copies of one message in the same batch, a copy of one seen in
/// an earlier batch, two replies for one order, and the compensate-without-cas mutant, which must still break.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class BatchApplyTests(ServersFixture servers)
{
    [Fact]
    public async Task A_batch_applies_each_message_once_and_counts_every_other_copy_as_a_duplicate()
    {
        await using var db = await servers.ScratchDatabaseAsync("batch_orders", Inbox.Schema, OrderBook.Schema);
        Guid a = Guid.NewGuid(), b = Guid.NewGuid(), c = Guid.NewGuid();

        Assert.Equal(new[] { true }, await ReceiveAsync(db, [a]));
        // a was seen in the batch before; b comes twice in this one: only its first position is new.
        Assert.Equal(new[] { false, true, false, true }, await ReceiveAsync(db, [a, b, b, c]));
        Assert.Equal(2, await Rig.ScalarAsync(db, "SELECT sum(duplicates) FROM inbox"));
        Assert.Equal(1, await Rig.ScalarAsync(db, $"SELECT duplicates FROM inbox WHERE message_id = '{b}'"));

        // Not idempotent on purpose: what the inbox lets through twice is applied twice, spend summed per customer.
        var order = new PlaceOrder("o-1", "sku-01", 3, "c-1");
        await ApplyAsync(db, [(order, Outcome.Created), (order with { OrderId = "o-2", Qty = 2 }, Outcome.Created), (order with { OrderId = "o-3" }, Outcome.Rejected)]);
        await ApplyAsync(db, [(order, Outcome.Created)]);
        Assert.Equal(3, await Rig.ScalarAsync(db, "SELECT count(*) FROM orders"));
        Assert.Equal(2, await Rig.ScalarAsync(db, "SELECT count(*) FROM order_applications WHERE order_id = 'o-1'"));
        Assert.Equal(3 + 2 + 3, await Rig.ScalarAsync(db, "SELECT total FROM customer_spend WHERE customer_id = 'c-1'"));

        await using var connection = await db.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var outcomes = await OrderBook.OutcomesOfAsync(connection, tx, ["o-1", "o-3"], default);
        Assert.Equal(Outcome.Created, outcomes["o-1"]);
        Assert.Equal(Outcome.Rejected, outcomes["o-3"]);
        await Assert.ThrowsAsync<InvalidDataException>(() => OrderBook.OutcomesOfAsync(connection, tx, ["o-404"], default));
    }

    [Fact]
    public async Task A_batch_of_replies_resolves_each_order_once_and_puts_back_the_stock_of_each_compensated_one()
    {
        await using var db = await servers.ScratchDatabaseAsync("batch_inventory", Inventory.Schema);
        await Database.ExecuteAsync(db, """
            INSERT INTO stock VALUES ('sku-01', 10), ('sku-02', 10);
            INSERT INTO inventory_orders (order_id, sku, qty, customer_id) VALUES
                ('o-1', 'sku-01', 2, 'c'), ('o-2', 'sku-01', 3, 'c'), ('o-3', 'sku-02', 4, 'c'), ('o-4', 'sku-02', 1, 'c');
            """);

        var first = await ResolveAsync(db, [Rejected("o-1"), Rejected("o-1"), Rejected("o-2"), Created("o-3")], compareAndSet: true);
        Assert.Equal(new[] { "o-1", "o-2", "o-3" }, first.Order());
        Assert.Equal(10 + 2 + 3, await Rig.ScalarAsync(db, "SELECT available FROM stock WHERE sku = 'sku-01'"));
        Assert.Equal(10, await Rig.ScalarAsync(db, "SELECT available FROM stock WHERE sku = 'sku-02'"));
        Assert.Equal(2, await Rig.ScalarAsync(db, "SELECT count(*) FROM restocks"));

        // Copies in a later batch find their orders resolved: nothing changes, and nothing is reported resolved.
        Assert.Empty(await ResolveAsync(db, [Rejected("o-1"), Created("o-3")], compareAndSet: true));
        Assert.Equal(15, await Rig.ScalarAsync(db, "SELECT available FROM stock WHERE sku = 'sku-01'"));
        Assert.Equal(2, await Rig.ScalarAsync(db, "SELECT count(*) FROM restocks"));
        Assert.Equal(1, await Rig.ScalarAsync(db, "SELECT count(*) FROM inventory_orders WHERE status = 'pending'"));

        // The mutant without the compare-and-set restocks once per rejected reply, copies in one batch included.
        await ResolveAsync(db, [Rejected("o-4"), Rejected("o-4")], compareAndSet: false);
        Assert.Equal(10 + 1 + 1, await Rig.ScalarAsync(db, "SELECT available FROM stock WHERE sku = 'sku-02'"));
        Assert.Equal(2, await Rig.ScalarAsync(db, "SELECT count(*) FROM restocks WHERE order_id = 'o-4'"));
    }

    private static OrderReply Rejected(string orderId) => new(orderId, Outcome.Rejected);

    private static OrderReply Created(string orderId) => new(orderId, Outcome.Created);

    private static async Task<bool[]> ReceiveAsync(NpgsqlDataSource db, Guid[] messageIds)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var first = await Inbox.ReceiveAsync(connection, tx, "orders", messageIds, default);
        await tx.CommitAsync();
        return first;
    }

    private static async Task ApplyAsync(NpgsqlDataSource db, (PlaceOrder, Outcome)[] applications)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await OrderBook.ApplyAsync(connection, tx, applications, default);
        await tx.CommitAsync();
    }

    private static async Task<IReadOnlyList<string>> ResolveAsync(NpgsqlDataSource db, OrderReply[] replies, bool compareAndSet)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var resolved = await Inventory.ResolveAsync(connection, tx, replies, default, compareAndSet);
        await tx.CommitAsync();
        return resolved;
    }
}
