using Dtx.Harness.Checking;
using Xunit;
using static Dtx.Harness.Checking.Checker;

namespace Dtx.Tests.Checking;

public class ConsistentRunTests
{
    /// <summary>Every kind of outcome a correct implementation can produce, all at once.</summary>
    internal static RunBuilder ConsistentRun()
    {
        var acknowledged = new OrderSpec("o-ok", RunBuilder.SkuA, 2, RunBuilder.Alice);
        var stockShort = new OrderSpec("o-409", RunBuilder.SkuB, 999, RunBuilder.Alice);
        var timedOutButHappened = new OrderSpec("o-info-yes", RunBuilder.SkuB, 3, RunBuilder.Bob);
        var timedOutNeverArrived = new OrderSpec("o-info-no", RunBuilder.SkuA, 1, RunBuilder.Bob);
        var refused = new OrderSpec("o-rejected", RunBuilder.SkuA, 4, "cust-refused");
        var retried = new OrderSpec("o-retry", RunBuilder.SkuA, 1, RunBuilder.Alice);
        var connectionRefusedThenOk = new OrderSpec("o-fail-then-ok", RunBuilder.SkuB, 1, RunBuilder.Bob);
        var clientCrashed = new OrderSpec("o-unanswered", RunBuilder.SkuB, 1, RunBuilder.Bob);

        return new RunBuilder()
            .Stock(RunBuilder.SkuA, 100).Stock(RunBuilder.SkuB, 50)
            .Ok(acknowledged).Created(acknowledged)
            .Fail(stockShort)
            .Info(timedOutButHappened).Created(timedOutButHappened)
            .Info(timedOutNeverArrived)
            .Ok(refused).Rejected(refused)
            .Info(retried, atSeconds: 0).Ok(retried, atSeconds: 5).Created(retried, resolvedAtSeconds: 6)
            .Fail(connectionRefusedThenOk, atSeconds: 0).Ok(connectionRefusedThenOk, atSeconds: 2).Created(connectionRefusedThenOk, resolvedAtSeconds: 3)
            .Unanswered(clientCrashed);
    }

    [Fact]
    public void A_consistent_run_passes_every_invariant()
    {
        var result = ConsistentRun().Check();

        Assert.All(result.Invariants, i =>
        {
            Assert.True(i.Ok, $"{i.Name}: {string.Join(", ", i.Examples)}");
            Assert.Equal(0, i.Violations);
            Assert.Empty(i.Examples);
        });
        Assert.True(result.Valid);
    }

    [Fact]
    public void Every_result_lists_all_eight_invariants_in_the_published_order()
    {
        var result = ConsistentRun().Check();

        Assert.Equal(
            ["no-lost-order", "no-phantom-order", "exactly-once-effect", "compensated-exactly-once",
             "stock-conservation", "acknowledged-durable", "failed-absent", "converged"],
            InvariantNames);
        Assert.Equal(InvariantNames, result.Invariants.Select(i => i.Name));
        Assert.All(result.Invariants, i => Assert.False(string.IsNullOrWhiteSpace(i.Description)));
    }

    [Fact]
    public void An_empty_run_is_valid()
    {
        var empty = new GroundTruth(new Dictionary<string, long>(), new Dictionary<string, long>(), [], [],
            new Dictionary<string, long>(), new InDoubt(0, 0, 0, 0), DrainedBeforeDeadline: true);

        var result = Check(new History([]), empty);

        Assert.True(result.Valid);
        Assert.Equal(8, result.Invariants.Count);
        Assert.Equal(new TimeToConsistency(0, 0, 0, 0), result.TimeToConsistency);
    }

    [Fact]
    public void Counts_summarise_the_consistent_run()
    {
        var run = ConsistentRun();

        var counts = Count(run.History(), run.Truth());

        // o-ok, o-rejected, o-retry, o-fail-then-ok acknowledged; o-409 failed; o-info-yes, o-info-no, o-unanswered indeterminate.
        Assert.Equal(new CheckCounts(Orders: 8, Acknowledged: 4, Failed: 1, Indeterminate: 3, Recovered: 1,
            Created: 4, Rejected: 1, Compensated: 1), counts);
    }
}
