using Dtx.Harness.Checking;
using Xunit;

namespace Dtx.Tests.Checking;

public class HistoryTests
{
    private static readonly DateTimeOffset T0 = RunBuilder.T0;

    private static Op Event(long index, int process, OpType type, string orderId, double at = 0) =>
        new(index, process, type, orderId, "sku-a", 1, "cust", at, T0.AddSeconds(at));

    [Fact]
    public void Ops_are_kept_in_index_order()
    {
        var history = new History([Event(2, 0, OpType.Ok, "o1"), Event(1, 0, OpType.Invoke, "o1")]);

        Assert.Equal([1L, 2L], history.Ops.Select(o => o.Index));
    }

    [Fact]
    public void Each_invoke_gets_its_completion_and_an_unanswered_invoke_becomes_info()
    {
        // Two processes interleave; process 1's second request never completed.
        var history = new History(
        [
            Event(0, 0, OpType.Invoke, "o1"),
            Event(1, 1, OpType.Invoke, "o2"),
            Event(2, 1, OpType.Fail, "o2"),
            Event(3, 0, OpType.Ok, "o1"),
            Event(4, 1, OpType.Invoke, "o3"),
        ]);

        var completions = history.Completions();

        Assert.Equal(
            [("o2", OpType.Fail), ("o1", OpType.Ok), ("o3", OpType.Info)],
            completions.Select(c => (c.OrderId, c.Type)));
        Assert.Equal(History.NoCompletionDetail, completions[2].Detail);
        Assert.Equal(4, completions[2].Index); // the synthesised completion points at its invoke
    }

    [Fact]
    public void Invokes_open_together_for_one_client_and_order_are_answered_first_in_first_out()
    {
        // No client of ours does this, but a hand-made history may: three invokes of o1 by process 0, two answers.
        var history = new History(
        [
            Event(0, 0, OpType.Invoke, "o1"),
            Event(1, 0, OpType.Invoke, "o1"),
            Event(2, 0, OpType.Invoke, "o1"),
            Event(3, 0, OpType.Ok, "o1"),
            Event(4, 0, OpType.Fail, "o1"),
            Event(5, 1, OpType.Invoke, "o2"),
        ]);

        var completions = history.Completions();

        Assert.Equal([(3L, OpType.Ok), (4L, OpType.Fail), (2L, OpType.Info), (5L, OpType.Info)], completions.Select(c => (c.Index, c.Type)));
        var orders = history.ClientOrders();
        Assert.Equal(["o1", "o2"], orders.Select(o => o.OrderId));
        Assert.Equal((OpType.Ok, true, 3), (orders[0].Outcome, orders[0].FailedAfterOk, orders[0].Attempts));
    }

    [Theory]
    [InlineData(new[] { OpType.Fail, OpType.Info }, OpType.Info)]
    [InlineData(new[] { OpType.Info, OpType.Ok }, OpType.Ok)]
    [InlineData(new[] { OpType.Ok, OpType.Info }, OpType.Ok)]
    [InlineData(new[] { OpType.Fail, OpType.Fail }, OpType.Fail)]
    public void A_retried_order_takes_its_strongest_outcome(OpType[] outcomes, OpType expected)
    {
        var ops = outcomes.SelectMany((type, attempt) => new[]
        {
            Event(2 * attempt, 0, OpType.Invoke, "o1", attempt),
            Event(2 * attempt + 1, 0, type, "o1", attempt + 0.5),
        });

        var order = Assert.Single(new History(ops).ClientOrders());

        Assert.Equal(expected, order.Outcome);
        Assert.Equal(outcomes.Length, order.Attempts);
        Assert.Equal(T0, order.FirstInvokedAt); // the first attempt is when the business asked
    }

    [Fact]
    public void Only_a_fail_after_an_ok_is_an_anomaly()
    {
        var okThenFail = new History(
        [
            Event(0, 0, OpType.Invoke, "o1"), Event(1, 0, OpType.Ok, "o1"),
            Event(2, 0, OpType.Invoke, "o1"), Event(3, 0, OpType.Fail, "o1"),
        ]);
        var failThenOk = new History(
        [
            Event(0, 0, OpType.Invoke, "o1"), Event(1, 0, OpType.Fail, "o1"),
            Event(2, 0, OpType.Invoke, "o1"), Event(3, 0, OpType.Ok, "o1"),
        ]);

        Assert.True(Assert.Single(okThenFail.ClientOrders()).FailedAfterOk);
        Assert.False(Assert.Single(failThenOk.ClientOrders()).FailedAfterOk);
    }
}
