using Dtx.Harness.Checking;
using Dtx.Harness.Faults;
using Xunit;

namespace Dtx.Tests.Checking;

/// <summary>
/// The verdict rules on hand-made inputs: each rule is shown to turn a run whose invariants all held into something
/// other than a pass, so that none of them can be broken unnoticed.
/// </summary>
public sealed class VerdictTests
{
    private static readonly CheckResult AllHeld = new(
        Checker.InvariantNames.Select(n => new InvariantResult(n, true, 0, [], "")).ToList(), TimeToConsistency.None);

    private static readonly FaultRecord Crash = new(FaultKind.Crash, "initiator", "initiator.after-commit", 3, 4.5);

    private static Judgement Judge(params FaultRecord[] faults) => Judge(AllHeld, faults);

    private static Judgement Judge(CheckResult check, params FaultRecord[] faults) =>
        Judgement.Of(check, faults, faultsPlanned: true, requested: 100, created: 80, minCreatedShare: 0.25);

    [Fact]
    public void Every_invariant_held_and_every_fault_injected_is_a_pass()
    {
        var judgement = Judge(Crash, Crash with { AtSeconds = 8 });
        Assert.Equal(Verdict.Pass, judgement.Verdict);
        Assert.Empty(judgement.Reasons);
    }

    [Fact]
    public void A_violated_invariant_fails_and_names_it_with_examples()
    {
        var broken = AllHeld with
        {
            Invariants = AllHeld.Invariants.Select(i => i.Name == Checker.NoLostOrder ? i with { Ok = false, Violations = 2, Examples = ["o-1", "o-2"] } : i).ToList(),
        };
        var judgement = Judge(broken, Crash);
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.Contains(judgement.Reasons, r => r.StartsWith("no-lost-order violated 2 time(s), e.g. o-1, o-2", StringComparison.Ordinal));
    }

    [Fact]
    public void A_fault_that_never_fired_fails_the_run_and_is_named()
    {
        var judgement = Judge(Crash, Crash with { AtSeconds = 8, Outcome = FaultOutcome.NotTriggered, Note = "not triggered: no request reached it" });
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.Equal("crash of initiator at initiator.after-commit at 8.0s was not triggered: not triggered: no request reached it", Assert.Single(judgement.Reasons));
    }

    [Fact]
    public void A_service_that_exited_on_its_own_fails_the_run()
    {
        var judgement = Judge(Crash, new FaultRecord(FaultKind.Crash, "participant", null, 6, 7.5, "unexpected exit (code 134)", FaultOutcome.UnexpectedExit));
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.Contains("participant exited although no fault was planned for it", Assert.Single(judgement.Reasons));
    }

    [Fact]
    public void A_process_that_did_not_come_back_is_an_error()
    {
        var judgement = Judge(Crash with { EndSeconds = null, Outcome = FaultOutcome.RestartFailed, Note = "restart failed: the process did not come back" });
        Assert.Equal(Verdict.Error, judgement.Verdict);
    }

    [Fact]
    public void Too_little_progress_fails_and_says_how_much()
    {
        var judgement = Judgement.Of(AllHeld, [Crash], faultsPlanned: true, requested: 200, created: 30, minCreatedShare: 0.25);
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.Equal("too little progress: 30 of 200 requested orders were created (15%; the scenario needs at least 25%)", Assert.Single(judgement.Reasons));
    }

    [Fact]
    public void Faults_that_all_do_not_apply_prove_nothing()
    {
        var judgement = Judge(Crash with { Outcome = FaultOutcome.NotApplicable, Note = "not applicable: local-table has no step x" });
        Assert.Equal(Verdict.NotApplicable, judgement.Verdict);
        // One that applies is enough to judge the run.
        Assert.Equal(Verdict.Pass, Judge(Crash, Crash with { Outcome = FaultOutcome.NotApplicable }).Verdict);
    }

    private static CheckResult Violating(params string[] names) => AllHeld with
    {
        Invariants = AllHeld.Invariants.Select(i => names.Contains(i.Name) ? i with { Ok = false, Violations = 3, Examples = ["o-7"] } : i).ToList(),
    };

    [Fact]
    public void Violating_exactly_what_the_scenario_expects_fails_as_expected()
    {
        var judgement = Judgement.Of(Violating(Checker.NoLostOrder, Checker.Converged), [Crash], true, 100, 80, 0.25, [Checker.NoLostOrder, Checker.Converged]);
        Assert.Equal(Verdict.FailedAsExpected, judgement.Verdict);
        Assert.All(judgement.Reasons, r => Assert.StartsWith("as expected: ", r));
    }

    [Fact]
    public void An_expected_violation_that_did_not_happen_is_a_real_failure()
    {
        var judgement = Judgement.Of(Violating(Checker.NoLostOrder), [Crash], true, 100, 80, 0.25, [Checker.NoLostOrder, Checker.Converged]);
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.Equal("converged was expected to be violated (the scenario's expect) but held", Assert.Single(judgement.Reasons));
    }

    [Fact]
    public void A_violation_beyond_what_is_expected_is_a_real_failure()
    {
        var judgement = Judgement.Of(Violating(Checker.NoLostOrder, Checker.ExactlyOnceEffect), [Crash], true, 100, 80, 0.25, [Checker.NoLostOrder]);
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.StartsWith("exactly-once-effect violated", Assert.Single(judgement.Reasons));
    }

    [Fact]
    public void An_expected_failure_still_needs_its_faults_to_have_fired()
    {
        var judgement = Judgement.Of(Violating(Checker.NoLostOrder), [Crash with { Outcome = FaultOutcome.NotTriggered, Note = "n" }], true, 100, 80, 0.25, [Checker.NoLostOrder]);
        Assert.Equal(Verdict.Fail, judgement.Verdict);
    }

    private static readonly string[] DualWriteMayBreak = [Checker.NoLostOrder, Checker.ExactlyOnceEffect, Checker.AcknowledgedDurable, Checker.FailedAbsent, Checker.Converged];

    [Fact]
    public void The_baseline_fails_as_expected_when_it_breaks_what_is_expected_and_may_break_more()
    {
        var judgement = Judgement.Of(Violating(Checker.NoLostOrder, Checker.Converged), [Crash], faultsPlanned: true, requested: 100, created: 80, minCreatedShare: 0.25,
            expectedViolations: [Checker.NoLostOrder], baselineMayBreak: DualWriteMayBreak);
        Assert.Equal(Verdict.FailedAsExpected, judgement.Verdict);
        Assert.Contains(judgement.Reasons, r => r.StartsWith("as expected: no-lost-order", StringComparison.Ordinal));
        Assert.Contains(judgement.Reasons, r => r.StartsWith("also: converged", StringComparison.Ordinal));
    }

    [Fact]
    public void The_baseline_fails_when_an_expected_violation_did_not_happen()
    {
        var judgement = Judgement.Of(Violating(Checker.Converged), [Crash], faultsPlanned: true, requested: 100, created: 80, minCreatedShare: 0.25,
            expectedViolations: [Checker.NoLostOrder], baselineMayBreak: DualWriteMayBreak);
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.Contains(judgement.Reasons, r => r.Contains("no-lost-order was expected to be violated", StringComparison.Ordinal));
    }

    [Fact]
    public void The_baseline_fails_on_an_invariant_it_cannot_break_by_what_it_lacks()
    {
        // A phantom cannot come from publishing after the commit: it would be a fault of the harness or the checker.
        var judgement = Judgement.Of(Violating(Checker.NoLostOrder, Checker.NoPhantomOrder), [Crash], faultsPlanned: true, requested: 100, created: 80, minCreatedShare: 0.25,
            expectedViolations: [Checker.NoLostOrder], baselineMayBreak: DualWriteMayBreak);
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.Contains(judgement.Reasons, r => r.StartsWith("no-phantom-order violated", StringComparison.Ordinal));
    }

    [Fact]
    public void The_baselines_lost_orders_may_leave_it_below_the_progress_floor_only_while_it_breaks_what_is_expected()
    {
        // dual-write never reconnects after a broker crash at 4 s of 16: the orders it loses are the expected violation.
        var losing = Judgement.Of(Violating(Checker.NoLostOrder), [Crash], faultsPlanned: true, requested: 480, created: 111, minCreatedShare: 0.25,
            expectedViolations: [Checker.NoLostOrder], baselineMayBreak: DualWriteMayBreak);
        Assert.Equal(Verdict.FailedAsExpected, losing.Verdict);
        Assert.Contains(losing.Reasons, r => r.StartsWith("also: too little progress: 111 of 480", StringComparison.Ordinal));
        // Without the expected violation the floor still fails it: a load that proved nothing.
        var idle = Judgement.Of(Violating(), [Crash], faultsPlanned: true, requested: 480, created: 111, minCreatedShare: 0.25,
            expectedViolations: [Checker.NoLostOrder], baselineMayBreak: DualWriteMayBreak);
        Assert.Equal(Verdict.Fail, idle.Verdict);
        Assert.Contains(idle.Reasons, r => r.StartsWith("too little progress", StringComparison.Ordinal));
        // And a reference gets no such leniency.
        Assert.Equal(Verdict.Fail, Judgement.Of(Violating(Checker.NoLostOrder), [Crash], true, 480, 111, 0.25, [Checker.NoLostOrder]).Verdict);
    }

    [Fact]
    public void A_crossed_threshold_fails_a_run_that_kept_every_promise_but_is_only_also_for_a_failing_baseline()
    {
        string[] crossed = ["threshold crossed: latency p99 of every request 912 ms, above the 800 ms the scenario allows"];
        var slow = Judgement.Of(AllHeld, [Crash], faultsPlanned: true, requested: 100, created: 80, minCreatedShare: 0.25, thresholdsCrossed: crossed);
        Assert.Equal(Verdict.Fail, slow.Verdict);
        Assert.Equal(crossed, slow.Reasons);
        Assert.Equal(Verdict.Pass, Judgement.Of(AllHeld, [Crash], true, 100, 80, 0.25, thresholdsCrossed: []).Verdict);
        var baseline = Judgement.Of(Violating(Checker.NoLostOrder), [Crash], faultsPlanned: true, requested: 100, created: 80, minCreatedShare: 0.25,
            expectedViolations: [Checker.NoLostOrder], baselineMayBreak: DualWriteMayBreak, thresholdsCrossed: crossed);
        Assert.Equal(Verdict.FailedAsExpected, baseline.Verdict);
        Assert.Contains("also: " + crossed[0], baseline.Reasons);
    }

    [Fact]
    public void A_reference_gets_no_leniency_for_a_violation_its_scenario_does_not_expect()
    {
        var judgement = Judgement.Of(Violating(Checker.NoLostOrder, Checker.Converged), [Crash], faultsPlanned: true, requested: 100, created: 80, minCreatedShare: 0.25,
            expectedViolations: [Checker.NoLostOrder]);
        Assert.Equal(Verdict.Fail, judgement.Verdict);
        Assert.Contains(judgement.Reasons, r => r.StartsWith("converged violated", StringComparison.Ordinal));
    }

    /// <summary>
    /// The progress floor is judged on the orders requested between and after the faults that fail requests: 30
    /// requests in all, 10 before the crash, 10 into the dead initiator (2 s to 4 s), where they fail by design, and 10
    /// after it, of which 3 were created. And again on the 10 requested after the last fault ended: the same 3.
    /// </summary>
    [Fact]
    public void Progress_counts_the_orders_requested_between_and_after_the_faults_that_fail_requests()
    {
        var run = new RunBuilder().Stock(RunBuilder.SkuA, 100);
        for (var i = 0; i < 30; i++)
        {
            var order = new OrderSpec($"o{i:D2}");
            var at = i * 0.2; // 0 s to 5.8 s: orders 10 to 19 fall in the crash window
            if (at is >= 2 and < 4) run.Fail(order, at);
            else if (i % 4 == 0) run.Ok(order, at).Created(order);
            else run.Info(order, at);
        }
        var crash = new FaultRecord(FaultKind.Crash, "initiator", "initiator.after-commit", 2, 4);
        var notTriggered = crash with { AtSeconds = 0, EndSeconds = 6, Outcome = FaultOutcome.NotTriggered };

        var progress = Checker.ProgressOf(run.History(), run.Truth(), [crash, notTriggered], loadSeconds: 6);

        Assert.Equal((10, 3, true, (10, 3)), (progress.Requested, progress.Created, progress.OutsideFaults, progress.AfterFaults));
        var judged = Judgement.Of(AllHeld, [crash], true, progress.Requested, progress.Created, 0.35, outsideFaults: true, afterFaults: progress.AfterFaults);
        Assert.Equal(["too little progress: 3 of 10 orders requested between and after the faults that fail requests were created (30%; the scenario needs at least 35%)",
            "too little progress after the faults: 3 of the 10 orders requested after the last fault ended were created (30%; the scenario needs at least 35%)"], judged.Reasons);
        // A fault as long as the load leaves too few requests outside it: then every request counts, and none comes after.
        var long_ = Checker.ProgressOf(run.History(), run.Truth(), [crash with { AtSeconds = 0.1, EndSeconds = null }], loadSeconds: 6);
        Assert.Equal((30, 6, false, ((int, int)?)null), (long_.Requested, long_.Created, long_.OutsideFaults, long_.AfterFaults));
        // A delay makes no request fail: its window counts, and the requests after it are judged again.
        var delay = Checker.ProgressOf(run.History(), run.Truth(), [crash with { Kind = FaultKind.Delay }], loadSeconds: 6);
        Assert.Equal((30, 6, false, (10, 3)), (delay.Requested, delay.Created, delay.OutsideFaults, delay.AfterFaults));
        // A client's retry is the same order, judged by its first request: o10, first sent in the window, retried after it, stays out.
        run.Ok(new OrderSpec("o10"), 5).Created(new OrderSpec("o10"));
        var retried = Checker.ProgressOf(run.History(), run.Truth(), [crash], loadSeconds: 6);
        Assert.Equal((10, 3), (retried.Requested, retried.Created));
    }

    /// <summary>
    /// A system that stops creating orders at its first fault and refuses every request after it (nothing left in doubt,
    /// every invariant holds) made enough progress before the fault to clear the floor on the whole run (5 of 30): it
    /// must fail, on the orders requested after the fault began.
    /// </summary>
    [Fact]
    public void A_system_that_never_recovers_from_its_first_fault_fails_though_it_made_enough_before()
    {
        var run = new RunBuilder().Stock(RunBuilder.SkuA, 100);
        for (var i = 0; i < 30; i++)
        {
            var order = new OrderSpec($"o{i:D2}");
            if (i < 5) run.Ok(order, i * 0.2).Created(order);
            else run.Fail(order, i * 0.2);
        }
        var partition = new FaultRecord(FaultKind.Partition, "initiator-database", null, 1, 1.5);

        var progress = Checker.ProgressOf(run.History(), run.Truth(), [partition], loadSeconds: 6);
        var judged = Judgement.Of(AllHeld, [partition], true, progress.Requested, progress.Created, 0.15, outsideFaults: progress.OutsideFaults, afterFaults: progress.AfterFaults);

        Assert.Equal((22, 0), (progress.Requested, progress.Created));
        Assert.Equal(Verdict.Fail, judged.Verdict);
        Assert.Equal(["too little progress: 0 of 22 orders requested between and after the faults that fail requests were created (0%; the scenario needs at least 15%)",
            "too little progress after the faults: 0 of the 22 orders requested after the last fault ended were created (0%; the scenario needs at least 15%)"], judged.Reasons);
        // Judged on every request it would have passed: 5 of 30 is above the floor.
        Assert.Equal(Verdict.Pass, Judgement.Of(AllHeld, [partition], true, 30, 5, 0.15).Verdict);
    }
}
