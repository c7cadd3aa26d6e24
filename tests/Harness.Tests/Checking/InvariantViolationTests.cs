using Dtx.Harness.Checking;
using Xunit;
using static Dtx.Harness.Checking.Checker;

namespace Dtx.Tests.Checking;

/// <summary>
/// For every invariant, a run that breaks it. Each test also pins down which other invariants fail with it
/// (<see cref="CheckAssert.OnlyFails"/>), so a checker that fails everything, or the wrong thing, cannot pass.
/// </summary>
public class InvariantViolationTests
{
    private static readonly OrderSpec Good = new("o-good", RunBuilder.SkuA, 2, RunBuilder.Alice);
    private static readonly OrderSpec Victim = new("o-victim", RunBuilder.SkuB, 3, RunBuilder.Bob);

    /// <summary>A healthy order next to the broken one, so "one bad order" is what the counts show.</summary>
    private static RunBuilder WithOneGoodOrder() =>
        new RunBuilder().Stock(RunBuilder.SkuA, 100).Stock(RunBuilder.SkuB, 100).Ok(Good).Created(Good);

    // ---- no-lost-order --------------------------------------------------------------------------------

    [Fact]
    public void Dual_write_crash_after_commit_loses_the_order()
    {
        // The initiator committed and acknowledged, the message was never published: stock stays deducted forever.
        var result = WithOneGoodOrder().Ok(Victim).Pending(Victim).Check();

        result.OnlyFails(NoLostOrder, AcknowledgedDurable, Converged);
        result.Violated(NoLostOrder, 1, "o-victim");
        result.Violated(Converged, 1, "o-victim");
    }

    [Fact]
    public void An_order_resolved_at_the_initiator_but_unknown_to_the_participant_is_lost()
    {
        var result = WithOneGoodOrder().Info(Victim).Created(Victim).WithoutParticipantRow("o-victim")
            .ShiftSpend(RunBuilder.Bob, -3)
            .Check();

        // The indeterminate order stopped half way, so failed-absent objects as well.
        result.OnlyFails(NoLostOrder, FailedAbsent);
        result.Violated(NoLostOrder, 1, "o-victim");
    }

    // ---- no-phantom-order -----------------------------------------------------------------------------

    [Fact]
    public void An_order_at_the_participant_without_a_deduction_is_a_phantom()
    {
        var result = WithOneGoodOrder()
            .AddParticipantRow(new ParticipantOrder("o-phantom", RunBuilder.SkuB, 1, RunBuilder.Bob, ParticipantStatus.Created, RunBuilder.T0, 1))
            .ShiftSpend(RunBuilder.Bob, 1)
            .Check();

        result.OnlyFails(NoPhantomOrder);
        result.Violated(NoPhantomOrder, 1, "o-phantom");
    }

    [Fact]
    public void A_participant_row_that_differs_from_the_deduction_is_a_phantom()
    {
        // Same id, but the participant recorded qty 5 where the initiator deducted 2 (spend follows the participant).
        var result = WithOneGoodOrder()
            .AtParticipant("o-good", p => p with { Qty = 5 })
            .ShiftSpend(RunBuilder.Alice, 3)
            .Check();

        result.OnlyFails(NoPhantomOrder);
        result.Violated(NoPhantomOrder, 1, "o-good");
    }

    // ---- exactly-once-effect --------------------------------------------------------------------------

    [Fact]
    public void A_duplicate_application_is_caught_by_the_count_and_by_the_running_total()
    {
        // Redelivered and applied again: the non-idempotent total grew twice.
        var result = WithOneGoodOrder().Ok(Victim).Created(Victim)
            .AtParticipant("o-victim", p => p with { Applications = 2 })
            .ShiftSpend(RunBuilder.Bob, 3)
            .Check();

        result.OnlyFails(ExactlyOnceEffect);
        result.Violated(ExactlyOnceEffect, 2, "o-victim", RunBuilder.Bob);
    }

    [Fact]
    public void A_spend_off_by_one_names_the_customer()
    {
        var result = WithOneGoodOrder().Ok(Victim).Created(Victim).ShiftSpend(RunBuilder.Bob, 1).Check();

        result.OnlyFails(ExactlyOnceEffect);
        result.Violated(ExactlyOnceEffect, 1, RunBuilder.Bob);
    }

    [Fact]
    public void Charging_a_customer_for_a_rejected_order_is_a_wrong_total()
    {
        // Bob has no created order at all, so his expected total is 0.
        var result = WithOneGoodOrder().Ok(Victim).Rejected(Victim).ShiftSpend(RunBuilder.Bob, 3).Check();

        result.OnlyFails(ExactlyOnceEffect);
        result.Violated(ExactlyOnceEffect, 1, RunBuilder.Bob);
    }

    [Fact]
    public void A_customer_missing_from_the_spend_table_counts_as_zero()
    {
        var truth = WithOneGoodOrder().Truth();
        var withoutAlice = truth with { CustomerSpend = new Dictionary<string, long>() };

        var result = Check(WithOneGoodOrder().History(), withoutAlice);

        result.Violated(ExactlyOnceEffect, 1, RunBuilder.Alice);
    }

    // ---- compensated-exactly-once ---------------------------------------------------------------------

    [Fact]
    public void A_double_restock_breaks_compensation_and_stock()
    {
        var result = WithOneGoodOrder().Ok(Victim).Rejected(Victim)
            .AtInitiator("o-victim", i => i with { Restocks = 2 })
            .ShiftFinalStock(RunBuilder.SkuB, 3)
            .Check();

        result.OnlyFails(CompensatedExactlyOnce, StockConservation);
        result.Violated(CompensatedExactlyOnce, 1, "o-victim");
        result.Violated(StockConservation, 1, RunBuilder.SkuB);
    }

    [Fact]
    public void A_missing_restock_breaks_compensation_and_stock()
    {
        // Marked compensated, but the ledger row and the stock increment never happened.
        var result = WithOneGoodOrder().Ok(Victim).Rejected(Victim)
            .AtInitiator("o-victim", i => i with { Restocks = 0 })
            .ShiftFinalStock(RunBuilder.SkuB, -3)
            .Check();

        result.OnlyFails(CompensatedExactlyOnce, StockConservation);
        result.Violated(CompensatedExactlyOnce, 1, "o-victim");
        result.Violated(StockConservation, 1, RunBuilder.SkuB);
    }

    [Fact]
    public void A_lost_rejection_reply_leaves_the_order_uncompensated()
    {
        // The initiator believed the order done; stock is consistent with that belief, but the customer was refused.
        var result = WithOneGoodOrder().Ok(Victim).Rejected(Victim)
            .AtInitiator("o-victim", i => i with { Status = InitiatorStatus.Done, Restocks = 0 })
            .ShiftFinalStock(RunBuilder.SkuB, -3)
            .Check();

        result.OnlyFails(CompensatedExactlyOnce);
        result.Violated(CompensatedExactlyOnce, 1, "o-victim");
    }

    [Fact]
    public void A_rejection_not_yet_applied_is_left_to_converged_not_counted_as_a_wrong_compensation()
    {
        // The participant refused the order; its reply was still on the way when the drain ended.
        var result = WithOneGoodOrder().Ok(Victim).Rejected(Victim)
            .AtInitiator("o-victim", i => i with { Status = InitiatorStatus.Pending, ResolvedAt = null, Restocks = 0 })
            .ShiftFinalStock(RunBuilder.SkuB, -3)
            .Check();

        result.OnlyFails(Converged);
        result.Violated(Converged, 1, "o-victim");
        // Restocked while still pending is wrong whatever the drain: the ledger moved without the status.
        var restockedPending = WithOneGoodOrder().Ok(Victim).Rejected(Victim)
            .AtInitiator("o-victim", i => i with { Status = InitiatorStatus.Pending, ResolvedAt = null, Restocks = 1 })
            .Check();
        Assert.Contains(restockedPending.Invariants, r => r.Name == CompensatedExactlyOnce && r.Violations == 1);
    }

    [Fact]
    public void Compensating_a_created_order_is_a_violation()
    {
        var result = WithOneGoodOrder()
            .AtInitiator("o-good", i => i with { Status = InitiatorStatus.Compensated, Restocks = 1 })
            .ShiftFinalStock(RunBuilder.SkuA, 2)
            .Check();

        result.OnlyFails(CompensatedExactlyOnce);
        result.Violated(CompensatedExactlyOnce, 1, "o-good");
    }

    [Fact]
    public void Restocking_an_order_the_participant_never_saw_is_a_compensation_without_a_rejection()
    {
        var result = WithOneGoodOrder().Info(Victim).Rejected(Victim).WithoutParticipantRow("o-victim").Check();

        // Also lost (never processed) and half done (indeterminate).
        result.OnlyFails(CompensatedExactlyOnce, NoLostOrder, FailedAbsent);
        result.Violated(CompensatedExactlyOnce, 1, "o-victim");
    }

    // ---- stock-conservation ---------------------------------------------------------------------------

    [Fact]
    public void Stock_that_vanished_without_an_order_names_the_sku()
    {
        var result = WithOneGoodOrder().ShiftFinalStock(RunBuilder.SkuB, -1).Check();

        result.OnlyFails(StockConservation);
        result.Violated(StockConservation, 1, RunBuilder.SkuB);
    }

    [Fact]
    public void A_sku_missing_from_one_side_counts_as_zero_there()
    {
        var run = WithOneGoodOrder();
        var truth = run.Truth();
        // sku-c appeared out of nowhere with 7 units: initial 0, final 7.
        var final = new Dictionary<string, long>(truth.FinalStock) { ["sku-c"] = 7 };

        var result = Check(run.History(), truth with { FinalStock = final });

        result.OnlyFails(StockConservation);
        result.Violated(StockConservation, 1, "sku-c");
    }

    [Fact]
    public void A_pending_order_still_holds_its_deduction()
    {
        // Not drained yet, but no stock went astray: only converged complains.
        var result = WithOneGoodOrder().Info(Victim).Pending(Victim)
            .AddParticipantRow(new ParticipantOrder("o-victim", RunBuilder.SkuB, 3, RunBuilder.Bob, ParticipantStatus.Created, RunBuilder.T0, 1))
            .ShiftSpend(RunBuilder.Bob, 3)
            .Check();

        Assert.True(result.Invariant(StockConservation).Ok);
        result.OnlyFails(Converged);
    }

    // ---- acknowledged-durable -------------------------------------------------------------------------

    [Fact]
    public void An_acknowledged_order_that_left_no_trace_is_not_durable()
    {
        var result = WithOneGoodOrder().Ok(Victim).Check();

        result.OnlyFails(AcknowledgedDurable);
        result.Violated(AcknowledgedDurable, 1, "o-victim");
    }

    [Fact]
    public void A_retry_that_was_acknowledged_counts_as_acknowledged()
    {
        // Info then Ok for the same id: the strongest outcome (Ok) is the promise.
        var result = WithOneGoodOrder().Info(Victim).Ok(Victim, atSeconds: 3).Check();

        result.OnlyFails(AcknowledgedDurable);
        result.Violated(AcknowledgedDurable, 1, "o-victim");
    }

    // ---- failed-absent --------------------------------------------------------------------------------

    [Fact]
    public void A_definite_failure_that_happened_anyway_is_a_violation()
    {
        var result = WithOneGoodOrder().Fail(Victim).Created(Victim).Check();

        result.OnlyFails(FailedAbsent);
        result.Violated(FailedAbsent, 1, "o-victim");
    }

    [Fact]
    public void An_indeterminate_order_that_stopped_half_way_is_a_violation()
    {
        // Deducted and resolved at the initiator, but the participant never heard of it.
        var result = WithOneGoodOrder().Info(Victim).Created(Victim)
            .WithoutParticipantRow("o-victim").ShiftSpend(RunBuilder.Bob, -3)
            .Check();

        result.Violated(FailedAbsent, 1, "o-victim");
    }

    [Fact]
    public void An_unanswered_invoke_is_indeterminate()
    {
        // The client never heard back: treated like Info, so half done is a violation...
        var halfDone = WithOneGoodOrder().Unanswered(Victim).Pending(Victim).Check();
        halfDone.OnlyFails(NoLostOrder, FailedAbsent, Converged);
        halfDone.Violated(FailedAbsent, 1, "o-victim");

        // ...and all or nothing is fine.
        Assert.True(WithOneGoodOrder().Unanswered(Victim).Check().Valid);
        Assert.True(WithOneGoodOrder().Unanswered(Victim).Created(Victim).Check().Valid);
    }

    [Fact]
    public void A_failure_after_an_acknowledgement_is_a_history_anomaly()
    {
        // The order exists, as promised, yet a retry was told it definitely did not happen.
        var result = WithOneGoodOrder().Ok(Victim).Fail(Victim, atSeconds: 2).Created(Victim).Check();

        result.OnlyFails(FailedAbsent);
        result.Violated(FailedAbsent, 1, "o-victim");
    }

    // ---- converged ------------------------------------------------------------------------------------

    [Fact]
    public void A_run_that_did_not_drain_counts_everything_in_doubt()
    {
        // The participant created o-victim, the reply has not reached the initiator yet.
        var result = WithOneGoodOrder().Info(Victim).Pending(Victim)
            .AddParticipantRow(new ParticipantOrder("o-victim", RunBuilder.SkuB, 3, RunBuilder.Bob, ParticipantStatus.Created, RunBuilder.T0, 1))
            .ShiftSpend(RunBuilder.Bob, 3)
            .StillInDoubt(new InDoubt(OutboxRows: 2, QueuedMessages: 1, PendingOrders: 1, OtherInDoubt: 0))
            .MissedDeadline()
            .Check();

        result.OnlyFails(Converged);
        // 2 outbox rows + 1 queued message + 1 pending order (probe and table agree) + 1 for the missed deadline.
        result.Violated(Converged, 5, "o-victim");
    }

    [Fact]
    public void Half_messages_left_in_doubt_prevent_convergence()
    {
        var result = WithOneGoodOrder().StillInDoubt(new InDoubt(0, 0, 0, OtherInDoubt: 3)).Check();

        result.OnlyFails(Converged);
        result.Violated(Converged, 3);
    }

    [Fact]
    public void Missing_the_deadline_alone_is_one_violation()
    {
        var result = WithOneGoodOrder().MissedDeadline().Check();

        result.OnlyFails(Converged);
        result.Violated(Converged, 1);
    }

    [Fact]
    public void A_pending_order_the_probe_missed_still_counts()
    {
        var result = WithOneGoodOrder().Info(Victim).Pending(Victim).Check();

        result.Violated(Converged, 1, "o-victim");
    }
}
