using System.Net;
using Dtx.Harness.Implementations;
using Dtx.Shared.Business;
using Dtx.Tests.Support;
using Xunit;

namespace Dtx.Tests.HalfMessage;

/// <summary>
/// The half-message protocol end to end — initiator, txbroker and participant as real processes — with a fault at
/// each step where a producer can lose track of its transaction. Whatever breaks, check-back must resolve the half
/// message the way the local transaction went, and the order must be applied (or compensated) exactly once.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class HalfMessageStepTests(ServersFixture servers)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task An_order_is_prepared_committed_dispatched_created_and_marked_done()
    {
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation());
        using var response = await rig.PlaceAsync(new PlaceOrder("h-1", "sku-01", 3, "c-1"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE order_id = 'h-1' AND status = 'done'"));
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'h-1'"));
        // The order's half message and the participant's reply, both committed and dispatched; nobody had to be asked.
        Assert.Equal(2, await rig.BrokerAsync("SELECT count(*) FROM half_messages WHERE state = 'committed' AND dispatched_at IS NOT NULL"));
        Assert.Equal(0, await rig.BrokerAsync("SELECT coalesce(sum(checks_sent), 0) FROM half_messages"));
    }

    [Fact]
    public async Task Short_stock_rolls_the_half_message_back_and_answers_409()
    {
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation());
        using var response = await rig.PlaceAsync(new PlaceOrder("h-short", "sku-02", 6, "c-1"));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.BrokerAsync("SELECT count(*) FROM half_messages WHERE state = 'rolled-back'"));
        Assert.Equal(0, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders"));
        Assert.Equal(0, await rig.OrdersAsync("SELECT count(*) FROM orders"));
    }

    [Fact]
    public async Task A_lost_commit_is_resolved_by_check_back_as_commit()
    {
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation(),
            failpoints: Rig.Arm("initiator", "initiator.after-commit", "crash@once"));

        await Assert.ThrowsAsync<HttpRequestException>(() => rig.PlaceAsync(new PlaceOrder("h-lost", "sku-01", 2, "c-1")));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE order_id = 'h-lost' AND status = 'done'"));
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'h-lost'"));
        Assert.Equal(1, await rig.BrokerAsync("SELECT count(*) FROM half_messages WHERE resolved_by = 'check-back' AND state = 'committed'"));
        Assert.True(await rig.BrokerAsync("SELECT sum(checks_answered) FROM half_messages") >= 1);
    }

    [Fact]
    public async Task An_initiator_crash_after_prepare_is_rolled_back_by_check_back()
    {
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation(),
            failpoints: Rig.Arm("initiator", "initiator.after-prepare", "crash@once"));

        await Assert.ThrowsAsync<HttpRequestException>(() => rig.PlaceAsync(new PlaceOrder("h-prepared", "sku-01", 2, "c-1")));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.BrokerAsync("SELECT count(*) FROM half_messages WHERE state = 'rolled-back' AND resolved_by = 'check-back'"));
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM tx_log WHERE state = 'rolled-back'"));
        Assert.Equal(0, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders"));
        Assert.Equal(0, await rig.OrdersAsync("SELECT count(*) FROM orders"));
        Assert.Equal(1000, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
    }

    [Fact]
    public async Task A_local_transaction_that_starts_after_a_rollback_answer_is_fenced_out()
    {
        // The producer stalls between prepare and its local transaction for longer than the transaction timeout:
        // check-back finds nothing, answers rollback and fences the id, so the late local transaction must abort.
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation(),
            failpoints: Rig.Arm("initiator", "initiator.after-prepare", "delay(3s)@once"));

        using var response = await rig.PlaceAsync(new PlaceOrder("h-fenced", "sku-01", 4, "c-1"));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("rolled back by check-back", await response.Content.ReadAsStringAsync());
        await rig.DrainedAsync(Patience);
        Assert.Equal(0, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders"));
        Assert.Equal(1000, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
        Assert.Equal(0, await rig.OrdersAsync("SELECT count(*) FROM orders"));
        Assert.Equal(1, await rig.BrokerAsync("SELECT count(*) FROM half_messages WHERE state = 'rolled-back'"));
    }

    [Fact]
    public async Task A_local_transaction_slower_than_the_check_timeout_still_commits_consistently()
    {
        // The local transaction holds its tx_log row, uncommitted, while check-back asks: the check waits on that
        // row (or times out and asks again) instead of answering rollback for a transaction that then commits.
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation(),
            failpoints: Rig.Arm("initiator", "initiator.before-commit", "delay(4s)@once"));

        using var response = await rig.PlaceAsync(new PlaceOrder("h-slow", "sku-01", 4, "c-1"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE order_id = 'h-slow' AND status = 'done'"));
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'h-slow'"));
        Assert.Equal(996, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
        Assert.True(await rig.BrokerAsync("SELECT sum(checks_sent) FROM half_messages") >= 1, "the check came while the local transaction was still open");
    }

    [Fact]
    public async Task A_commit_is_sent_to_txbroker_even_when_the_client_has_given_up()
    {
        // The client leaves during a slow step after the local commit. The commit must still go to txbroker: one
        // dropped with the client's cancellation becomes a check-back, and under overload those check-backs were
        // the load that kept it overloaded. The check comes after 10 s here, so only the producer can resolve it sooner.
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation(), timing: Rig.FastTiming(txTimeout: "10s"),
            failpoints: Rig.Arm("initiator", "initiator.after-commit", "delay(2s)@once"));

        using (var impatient = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => rig.PlaceAsync(new PlaceOrder("h-gone", "sku-01", 2, "c-1"), impatient.Token));

        await Eventually.HoldsAsync(() => rig.BrokerAsync("SELECT count(*) FROM half_messages WHERE resolved_by = 'producer' AND state = 'committed' AND tx_id NOT LIKE 'reply-%'"),
            n => n == 1, TimeSpan.FromSeconds(8), "the order's half message committed by its producer");
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE order_id = 'h-gone' AND status = 'done'"));
        Assert.Equal(0, await rig.BrokerAsync("SELECT coalesce(sum(checks_sent), 0) FROM half_messages"));
    }

    [Fact]
    public async Task A_participant_crash_after_commit_replies_once_through_check_back_and_compensates_once()
    {
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation(), refuseShare: 1,
            failpoints: Rig.Arm("participant", "participant.after-commit", "crash@once"));

        await rig.PlaceAsync(new PlaceOrder("h-reply", "sku-01", 6, "c-5"));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'h-reply'"));
        Assert.Equal(1, await rig.OrdersAsync("SELECT sum(duplicates) FROM inbox"));
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM restocks WHERE order_id = 'h-reply'"));
        Assert.Equal(1000, await rig.InventoryAsync("SELECT available FROM stock WHERE sku = 'sku-01'"));
        // The crashed attempt's reply was committed by check-back; the redelivery's reply was withdrawn.
        Assert.Equal(1, await rig.BrokerAsync("SELECT count(*) FROM half_messages WHERE tx_id LIKE 'reply-%' AND state = 'committed'"));
        Assert.Equal(1, await rig.BrokerAsync("SELECT count(*) FROM half_messages WHERE tx_id LIKE 'reply-%' AND state = 'rolled-back'"));
    }

    [Fact]
    public async Task A_txbroker_crash_between_commit_record_and_dispatch_mark_delivers_and_applies_once()
    {
        await using var rig = await Rig.StartAsync(servers, new HalfMessageImplementation(),
            failpoints: Rig.Arm("txbroker", "relay.after-publish", "crash@once"));

        await rig.PlaceAsync(new PlaceOrder("h-dispatch", "sku-01", 2, "c-1"));
        await rig.RestartedAsync(1);
        await rig.DrainedAsync(Patience);
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'h-dispatch'"));
        Assert.Equal(1, await rig.InventoryAsync("SELECT count(*) FROM inventory_orders WHERE order_id = 'h-dispatch' AND status = 'done'"));
    }
}
