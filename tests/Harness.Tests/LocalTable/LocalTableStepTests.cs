using System.Net;
using Dtx.Shared.Business;
using Dtx.Harness.Implementations;
using Dtx.Tests.Support;
using Xunit;

namespace Dtx.Tests.LocalTable;

/// <summary>
/// Each step of the local message table on real PostgreSQL, RabbitMQ and service processes, with a crash where
/// the step's failpoint is. After every crash the same thing must hold: the order applied once, answered once.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class LocalTableStepTests(ServersFixture servers)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_order_is_deducted_published_created_and_marked_done()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation());
        using var response = await rig.PlaceAsync(new PlaceOrder("o-1", "sku-01", 3, "c-1"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await rig.DrainedAsync(Patience);
        Assert.Equal(997, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE order_id = 'o-1' AND status = 'done'"));
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM orders WHERE order_id = 'o-1' AND status = 'created'"));
        Assert.Equal(3, await rig.OrdersAsync("SELECT total FROM customer_spend WHERE customer_id = 'c-1'"));
    }

    // The order row and the message row go in the same round trip as the deduction: a failed one rolls them back.
    [Theory]
    [InlineData("sku-02", 6, HttpStatusCode.Conflict)]                    // short stock
    [InlineData("sku-nowhere", 1, HttpStatusCode.UnprocessableEntity)]    // unknown sku
    public async Task A_failed_deduction_is_a_definite_answer_that_leaves_no_trace(string sku, int qty, HttpStatusCode expected)
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation());
        using var response = await rig.PlaceAsync(new PlaceOrder("o-refused", sku, qty, "c-1"));

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal(0, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders"));
        Assert.Equal(0, await rig.InventoryAsync("SELECT count(*) FROM outbox"));
        Assert.Equal(5, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-02'"));
    }

    [Fact]
    public async Task A_retried_order_id_is_deducted_once()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation());
        var order = new PlaceOrder("o-retry", "sku-01", 2, "c-1");
        using var first = await rig.PlaceAsync(order);
        using var second = await rig.PlaceAsync(order);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        await rig.DrainedAsync(Patience);
        Assert.Equal(998, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications"));
    }

    [Fact]
    public async Task A_refused_customer_is_rejected_and_restocked_exactly_once()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation(), refuseShare: 1);
        using var response = await rig.PlaceAsync(new PlaceOrder("o-refused", "sku-01", 4, "c-9"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM orders WHERE status = 'rejected'"));
        Assert.Equal(0, await rig.OrdersAsync("SELECT count(*) FROM customer_spend"));
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE status = 'compensated'"));
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM restocks WHERE order_id = 'o-refused'"));
        Assert.Equal(1000, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
    }

    [Fact]
    public async Task A_crash_before_commit_leaves_nothing_anywhere()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation(), failpoints: Rig.Arm("initiator", "initiator.before-commit", "crash@once"));

        await Assert.ThrowsAsync<HttpRequestException>(() => rig.PlaceAsync(new PlaceOrder("o-lost", "sku-01", 1, "c-1")));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Equal(0, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders"));
        Assert.Equal(1000, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
        Assert.Equal(0, await rig.OrdersAsync("SELECT count(*) FROM orders"));
    }

    [Fact]
    public async Task A_crash_after_commit_is_recovered_by_the_polling_relay()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation(), failpoints: Rig.Arm("initiator", "initiator.after-commit", "crash@once"));

        // The client hears nothing back (indeterminate), yet the deduction is durable and must reach the participant.
        await Assert.ThrowsAsync<HttpRequestException>(() => rig.PlaceAsync(new PlaceOrder("o-crash", "sku-01", 2, "c-1")));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE order_id = 'o-crash' AND status = 'done'"));
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'o-crash'"));
        Assert.Contains(rig.Faults.All, f => f.Target == "initiator" && f.EndSeconds is not null);
    }

    [Fact]
    public async Task A_crash_after_publish_before_marking_is_applied_exactly_once()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation(), failpoints: Rig.Arm("initiator", "relay.after-publish", "crash@once"));

        await rig.PlaceAsync(new PlaceOrder("o-published", "sku-01", 2, "c-1"));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Single(rig.Faults.All);
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'o-published'"));
        Assert.Equal(2, await rig.OrdersAsync("SELECT total FROM customer_spend WHERE customer_id = 'c-1'"));
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE status = 'done'"));
    }

    [Fact]
    public async Task A_participant_crash_after_commit_is_redelivered_republished_and_deduplicated()
    {
        // The participant is down longer than the reply timeout, so the initiator republishes too: two copies come back.
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation(), timing: Rig.FastTiming(replyTimeout: "1s"), failpoints: Rig.Arm("participant", "participant.after-commit", "crash@once"));

        await rig.PlaceAsync(new PlaceOrder("o-redelivered", "sku-01", 5, "c-2"));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'o-redelivered'"));
        Assert.Equal(5, await rig.OrdersAsync("SELECT total FROM customer_spend WHERE customer_id = 'c-2'"));
        Assert.True(await rig.OrdersAsync("SELECT sum(duplicates) FROM inbox") >= 1, "the redelivery reached the inbox");
        Assert.True(await rig.InventoryAsync("SELECT count(*) - count(DISTINCT message_id) FROM publish_log") >= 1, "the initiator republished");
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE status = 'done'"));
    }

    [Fact]
    public async Task A_crash_after_applying_a_reply_compensates_once()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation(), refuseShare: 1, failpoints: Rig.Arm("initiator", "initiator.after-reply", "crash@once"));

        await rig.PlaceAsync(new PlaceOrder("o-comp", "sku-01", 7, "c-3"));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Single(rig.Faults.All);
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM restocks WHERE order_id = 'o-comp'"));
        Assert.Equal(1000, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
    }
}
