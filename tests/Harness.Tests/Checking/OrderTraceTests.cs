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
        ["initiator"] = ["12:00:02.100 warn: relay publish of o-victim failed: connection reset", "12:00:02.200 info: relay publish of o-victim-2 failed"],
        ["participant"] = [],
    };

    [Fact]
    public void A_lost_order_is_traced_from_the_request_to_the_missing_participant_row_with_its_faults_and_log_lines()
    {
        var builder = new RunBuilder().Stock(RunBuilder.SkuA, 100).Stock(RunBuilder.SkuB, 100)
            .Ok(Good, atSeconds: 1).Created(Good).Ok(Victim, atSeconds: 10).Pending(Victim)
            .AtInitiator("o-victim", o => o with { CreatedAt = RunBuilder.T0.AddSeconds(10.001) });
        var history = builder.History();
        var truth = builder.Truth();
        var check = Checker.Check(history, truth);
        // A partition the order lived through and a crash half a second after its answer are among its events; a
        // crash long after it is not.
        FaultRecord[] faults =
        [
            new(FaultKind.Partition, "initiator-rabbitmq", null, 3, 12),
            new(FaultKind.Crash, "initiator", "initiator.after-commit", 10.55, 12.1),
            new(FaultKind.Crash, "initiator", "initiator.after-commit", 20, 21.5),
        ];

        // The implementation's tables saw it published; a step of another order is not this one's.
        TraceStep[] steps =
        [
            new("o-victim", RunBuilder.T0.AddSeconds(10.2), "initiator's relay", "published the order message (confirmed)"),
            new("o-good", RunBuilder.T0.AddSeconds(1.2), "initiator's relay", "published the order message (confirmed)"),
        ];
        var trace = Assert.Single(OrderTrace.OfViolations(check, history, truth, Logs, faults, steps));

        Assert.Equal("o-victim", trace.OrderId);
        Assert.Equal(
        [
            new TraceEvent(3, "nemesis", "partition of initiator-rabbitmq, over at 12.0s"),
            new TraceEvent(10, "client", "requests 3 × sku-b for cust-bob (client 1)"),
            // The initiator's row, written on the database's clock, on the run's: the history ties the two together.
            new TraceEvent(10.001, "initiator", "deducted 3 × sku-b in its local transaction"),
            new TraceEvent(10.05, "client", "answered ok"),
            new TraceEvent(10.2, "initiator's relay", "published the order message (confirmed)"),
            new TraceEvent(10.55, "nemesis", "crash of initiator at initiator.after-commit, over at 12.1s"),
            new TraceEvent(null, "initiator", "still pending after the drain"),
            new TraceEvent(null, "participant", "has no row of this order"),
            // The log line that names the order, not the one that names o-victim-2.
            new TraceEvent(null, "initiator", "12:00:02.100 warn: relay publish of o-victim failed: connection reset", LogLine: true),
        ], trace.Events);
    }

    [Theory]
    [InlineData("publish of ord-1 failed", "ord-1", true)]
    [InlineData("publish of ord-10 failed", "ord-1", false)]
    [InlineData("publish of xord-1 failed", "ord-1", false)]
    [InlineData("ord-1", "ord-1", true)]
    [InlineData("ord-10, then ord-1.", "ord-1", true)]
    public void A_log_line_names_an_order_by_its_whole_id(string line, string id, bool names) =>
        Assert.Equal(names, OrderTrace.Names(line, id));

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
