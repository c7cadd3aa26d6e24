using Dtx.Harness.Checking;
using Xunit;
using static Dtx.Harness.Checking.Checker;

namespace Dtx.Tests.Checking;

/// <summary>The parts of a verdict a report shows: examples and time to consistency.</summary>
public class ReportingDetailTests
{
    [Fact]
    public void Examples_are_sorted_and_capped_at_ten_while_violations_count_them_all()
    {
        var run = new RunBuilder();
        // Added in reverse so that sorting, not insertion order, decides the examples.
        foreach (var i in Enumerable.Range(0, 15).Reverse())
            run.Ok(new OrderSpec($"o-{i:D2}"));

        var invariant = run.Check().Invariant(AcknowledgedDurable);

        Assert.Equal(15, invariant.Violations);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"o-{i:D2}"), invariant.Examples);
    }

    [Fact]
    public void Time_to_consistency_uses_nearest_rank_percentiles()
    {
        // Ten orders invoked at t=0 and resolved 100, 200, ... 1000 ms later (added out of order).
        var run = new RunBuilder();
        foreach (var i in new[] { 7, 3, 10, 1, 5, 9, 2, 8, 4, 6 })
        {
            var order = new OrderSpec($"o-{i:D2}");
            run.Ok(order).Created(order, resolvedAtSeconds: i / 10.0);
        }

        var ttc = run.Check().TimeToConsistency;

        Assert.Equal(10, ttc.Orders);
        Assert.Equal(500, ttc.P50Ms, precision: 6);   // rank ⌈0.50 · 10⌉ = 5
        Assert.Equal(1000, ttc.P99Ms, precision: 6);  // rank ⌈0.99 · 10⌉ = 10
        Assert.Equal(1000, ttc.MaxMs, precision: 6);
    }

    [Fact]
    public void Time_to_consistency_counts_only_resolved_invoked_orders_from_their_first_invoke()
    {
        var retried = new OrderSpec("o-retried");
        var early = new OrderSpec("o-clock-skew");
        var pending = new OrderSpec("o-pending");
        var notInvoked = new OrderSpec("o-not-invoked");

        var run = new RunBuilder()
            .Info(retried, atSeconds: 1).Ok(retried, atSeconds: 4).Created(retried, resolvedAtSeconds: 5) // 4000 ms from the first invoke
            .Ok(early, atSeconds: 2).Created(early, resolvedAtSeconds: 1.5)                               // resolved "before" the invoke: 0
            .Info(pending).Pending(pending)                                                                // unresolved: skipped
            .Created(notInvoked);                                                                          // no invoke: skipped

        var ttc = run.Check().TimeToConsistency;

        Assert.Equal(2, ttc.Orders);
        Assert.Equal(0, ttc.P50Ms, precision: 6);
        Assert.Equal(4000, ttc.P99Ms, precision: 6);
        Assert.Equal(4000, ttc.MaxMs, precision: 6);
    }

    [Fact]
    public void Compensated_orders_count_towards_time_to_consistency()
    {
        var refused = new OrderSpec("o-refused");

        var ttc = new RunBuilder().Ok(refused).Rejected(refused, resolvedAtSeconds: 0.25).Check().TimeToConsistency;

        Assert.Equal(new TimeToConsistency(250, 250, 250, 1), ttc);
    }
}
