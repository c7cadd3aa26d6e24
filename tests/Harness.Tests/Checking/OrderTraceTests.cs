using Dtx.Harness.Checking;
using Dtx.Harness.Faults;
using Xunit;

namespace Dtx.Tests.Checking;

/// <summary>The trace of an order a violation names: the client's side, both databases' rows and the log lines, on the run's clock.</summary>
public sealed class OrderTraceTests
{
    private static readonly OrderSpec Good = new("o-good", RunBuilder.SkuA, 2, RunBuilder.Alice);
    private static readonly OrderSpec Victim = new("o-victim", RunBuilder.SkuB, 3, RunBuilder.Bob);

    private static readonly Dictionary<string, IReadOnlyList<string>> Logs = new()
    {
        ["initiator"] = ["12:00:02.100 warn: relay publish of o-victim failed: connection reset", "12:00:02.200 info: unrelated"],
        ["participant"] = [],
    };

    [Fact]
    public void A_lost_order_is_traced_from_the_request_to_the_missing_participant_row_with_its_log_lines()
    {
        var builder = new RunBuilder().Stock(RunBuilder.SkuA, 100).Stock(RunBuilder.SkuB, 100)
            .Ok(Good, atSeconds: 1).Created(Good).Ok(Victim, atSeconds: 2).Pending(Victim);
        var history = builder.History();
        var truth = builder.Truth();
        var check = Checker.Check(history, truth);

        // A crash 0.5 s after the answer is shown among the order's events; one long after it is not.
        FaultRecord[] faults = [new(FaultKind.Crash, "initiator", "initiator.after-commit", 2.55, 4.1), new(FaultKind.Crash, "initiator", "initiator.after-commit", 9, 10.5)];
        var trace = Assert.Single(OrderTrace.OfViolations(check, history, truth, Logs, faults));

        Assert.Equal("o-victim", trace.OrderId);
        Assert.Equal(
        [
            // The initiator's row was written at T0, the run's second 0: the history ties the two clocks together.
            new TraceEvent(0, "initiator", "deducted 3 × sku-b in its local transaction"),
            new TraceEvent(2, "client", "requests 3 × sku-b for cust-bob (client 1)"),
            new TraceEvent(2.05, "client", "answered ok"),
            new TraceEvent(2.55, "nemesis", "crash of initiator at initiator.after-commit, over at 4.1s"),
            new TraceEvent(null, "initiator", "still pending after the drain"),
            new TraceEvent(null, "participant", "has no row of this order"),
            new TraceEvent(null, "initiator", "12:00:02.100 warn: relay publish of o-victim failed: connection reset", LogLine: true),
        ], trace.Events);
    }

    [Fact]
    public void A_valid_run_has_no_traces_and_a_customer_named_by_a_violation_gets_none()
    {
        var valid = new RunBuilder().Stock(RunBuilder.SkuA, 100).Ok(Good).Created(Good);
        Assert.Empty(OrderTrace.OfViolations(valid.Check(), valid.History(), valid.Truth(), Logs, []));

        // A wrong running spend names the customer: only orders have a trace.
        var overcharged = new RunBuilder().Stock(RunBuilder.SkuA, 100).Ok(Good).Created(Good).ShiftSpend(RunBuilder.Alice, 5);
        var check = overcharged.Check();
        Assert.Contains(RunBuilder.Alice, check.Invariant(Checker.ExactlyOnceEffect).Examples);
        Assert.Empty(OrderTrace.OfViolations(check, overcharged.History(), overcharged.Truth(), Logs, []));
    }
}
