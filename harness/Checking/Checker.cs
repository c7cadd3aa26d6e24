using Dtx.Harness.Faults;

namespace Dtx.Harness.Checking;

/// <summary>
/// Turns a recorded client history and the ground truth read after the drain into a verdict.
/// Pure logic: no I/O, so every rule here can be tested with hand-made data.
/// <para>
/// Each invariant is one small function over the same indexed <see cref="Facts"/>. They are deliberately
/// independent: each looks at one promise, so a single bug tends to fail the invariant that names it rather
/// than all of them. Where two invariants could both blame the same fact, the comments say which one owns it.
/// </para>
/// </summary>
public static class Checker
{
    public const string NoLostOrder = "no-lost-order";
    public const string NoPhantomOrder = "no-phantom-order";
    public const string ExactlyOnceEffect = "exactly-once-effect";
    public const string CompensatedExactlyOnce = "compensated-exactly-once";
    public const string StockConservation = "stock-conservation";
    public const string AcknowledgedDurable = "acknowledged-durable";
    public const string FailedAbsent = "failed-absent";
    public const string Converged = "converged";

    /// <summary>How many offending ids an <see cref="InvariantResult"/> lists.</summary>
    public const int MaxExamples = 10;

    /// <summary>Every result lists all of these, in this order (reports and JUnit rely on it).</summary>
    public static readonly IReadOnlyList<string> InvariantNames =
    [
        NoLostOrder, NoPhantomOrder, ExactlyOnceEffect, CompensatedExactlyOnce,
        StockConservation, AcknowledgedDurable, FailedAbsent, Converged,
    ];

    /// <summary>One sentence per invariant, for reports.</summary>
    public static readonly IReadOnlyDictionary<string, string> Descriptions = new Dictionary<string, string>
    {
        [NoLostOrder] = "Every order whose stock deduction is durable at the initiator was processed by the participant (created or rejected).",
        [NoPhantomOrder] = "No order exists at the participant without a durable deduction at the initiator for the same sku, quantity and customer.",
        [ExactlyOnceEffect] = "Every order was applied exactly once by the participant and every customer's running spend equals the quantity of their created orders (examples are order ids and customer ids).",
        [CompensatedExactlyOnce] = "Every rejected order was restocked exactly once at the initiator, and no order that was not rejected was restocked.",
        [StockConservation] = "For every sku (examples are skus), initial minus final stock equals the quantity of the initiator's orders that still hold a deduction (pending or done).",
        [AcknowledgedDurable] = "Every order the client was told succeeded exists at both the initiator and the participant.",
        [FailedAbsent] = "Every order the client was told definitely failed left no trace, every indeterminate order happened entirely or not at all, and no order was refused after being acknowledged.",
        [Converged] = "Before the drain deadline nothing was left in doubt: no outbox rows, queued messages, pending orders or unresolved half messages (examples are pending order ids).",
    };

    public static CheckResult Check(History history, GroundTruth truth)
    {
        var facts = Facts.From(history, truth);
        IReadOnlyList<InvariantResult> invariants =
        [
            CheckNoLostOrder(facts),
            CheckNoPhantomOrder(facts),
            CheckExactlyOnceEffect(facts),
            CheckCompensatedExactlyOnce(facts),
            CheckStockConservation(facts),
            CheckAcknowledgedDurable(facts),
            CheckFailedAbsent(facts),
            CheckConverged(facts),
        ];
        var (timeToConsistency, each) = MeasureTimeToConsistency(facts);
        return new CheckResult(invariants, timeToConsistency) { TimeToConsistencyMs = each };
    }

    /// <summary>Totals that give a verdict its context (none is a violation by itself).</summary>
    public static CheckCounts Count(History history, GroundTruth truth)
    {
        // No Facts here: the client orders are the history's own (folded once, for Check too), and only the few
        // indeterminate ones are looked up at the initiator, without indexing every order a second time.
        var clients = history.ClientOrders();
        int WithOutcome(OpType outcome) => clients.Count(c => c.Outcome == outcome);
        var indeterminate = clients.Where(c => c.Outcome == OpType.Info).Select(c => c.OrderId).ToHashSet(StringComparer.Ordinal);
        return new CheckCounts(
            Orders: clients.Count,
            Acknowledged: WithOutcome(OpType.Ok),
            Failed: WithOutcome(OpType.Fail),
            Indeterminate: indeterminate.Count,
            Recovered: truth.InitiatorOrders.Select(i => i.OrderId).Where(indeterminate.Contains).Distinct(StringComparer.Ordinal).Count(),
            Created: truth.ParticipantOrders.Count(p => p.Status == ParticipantStatus.Created),
            Rejected: truth.ParticipantOrders.Count(p => p.Status == ParticipantStatus.Rejected),
            Compensated: truth.InitiatorOrders.Count(i => i.Status == InitiatorStatus.Compensated));
    }

    /// <summary>
    /// The load's progress, judged twice. First over the orders first requested outside the windows of the faults that
    /// make requests fail by design (a process killed or stopped until it is back, a link cut, hung or reset while it
    /// lasts), from the first such fault on: counted against the floor, the requests into those windows made a scenario
    /// with three crashes in sixteen seconds fail on a slow machine for its faults' sake, and the orders created before
    /// the first fault would let a system that never got going again between its faults pass. A delay, a slow link, a
    /// lost or poisoned message makes no request fail: with no such fault every request counts. Then over the orders
    /// first requested after the last fault of any kind ended, so that the run shows the system back at work. Each
    /// judgement needs at least <see cref="MinShareJudged"/> of the requests: with fewer between and after the faults,
    /// every request outside their windows counts (or every request); with fewer after the last fault (one that lasts
    /// to the end), there is no second judgement.
    /// </summary>
    public static Progress ProgressOf(History history, GroundTruth truth, IReadOnlyList<FaultRecord> faults, double loadSeconds)
    {
        var created = truth.ParticipantOrders.Where(p => p.Status == ParticipantStatus.Created).Select(p => p.OrderId).ToHashSet();
        var injected = faults.Where(f => f.Outcome == FaultOutcome.Injected).Select(f => (Fault: f, From: f.AtSeconds, To: f.EndSeconds ?? loadSeconds)).ToList();
        var failing = injected.Where(w => FailsRequests(w.Fault)).ToList();
        // An order's first request decides: a client's retry of it is the same order.
        var firstById = new Dictionary<string, Op>(StringComparer.Ordinal);
        foreach (var op in history.Ops)
            if (op.Type == OpType.Invoke && (!firstById.TryGetValue(op.OrderId, out var earlier) || op.AtSeconds < earlier.AtSeconds))
                firstById[op.OrderId] = op;
        var first = firstById.Values.ToList();
        var enough = Math.Max(1, (int)Math.Ceiling(first.Count * MinShareJudged));
        var outside = first.Where(o => !failing.Any(w => o.AtSeconds >= w.From && o.AtSeconds < w.To)).ToList();
        var firstFailure = failing.Count == 0 ? double.PositiveInfinity : failing.Min(w => w.From);
        var between = outside.Where(o => o.AtSeconds >= firstFailure).ToList();
        var counted = between.Count >= enough ? between : outside.Count >= enough ? outside : first;
        var lastEnd = injected.Count == 0 ? double.PositiveInfinity : injected.Max(w => w.To);
        var after = first.Where(o => o.AtSeconds >= lastEnd).ToList();
        return new Progress(counted.Count, counted.Count(o => created.Contains(o.OrderId)), OutsideFaults: counted.Count < first.Count)
        {
            AfterFaults = after.Count >= enough ? (after.Count, after.Count(o => created.Contains(o.OrderId))) : null,
        };
    }

    /// <summary>The least share of the requests a progress judgement is made on: about 1.6 s of a 16 s load.</summary>
    public const double MinShareJudged = 0.1;

    private static bool FailsRequests(FaultRecord fault) => fault.Kind switch
    {
        FaultKind.Crash or FaultKind.Partition or FaultKind.Hang or FaultKind.ResetPeer => true,
        // A stopped service; a step held by a failpoint's pause only makes its requests wait.
        FaultKind.Pause => fault.Step is null,
        _ => false,
    };

    // ---- the invariants -------------------------------------------------------------------------------

    /// <summary>A durable deduction is a promise to the participant: Jepsen's "lost" (acknowledged in, never out).</summary>
    private static InvariantResult CheckNoLostOrder(Facts f) =>
        Verdict(NoLostOrder, f.Initiator.Keys.Where(id => !f.AtParticipant(id)));

    /// <summary>
    /// Jepsen's "unexpected": the participant holds something the initiator never committed to. A row whose
    /// sku, qty or customer differs from the initiator's is a phantom too: the effect is not the order that was paid for.
    /// </summary>
    private static InvariantResult CheckNoPhantomOrder(Facts f) =>
        Verdict(NoPhantomOrder, f.Participant.Values
            .Where(p => !f.Initiator.TryGetValue(p.OrderId, out var i)
                        || i.Sku != p.Sku || i.Qty != p.Qty || i.CustomerId != p.CustomerId)
            .Select(p => p.OrderId));

    /// <summary>
    /// Two views of the same promise. Applications counts what the participant says it did;
    /// customer_spend is a non-idempotent running total, so a duplicate that slipped past the
    /// bookkeeping still shows up as a sum that is too large.
    /// </summary>
    private static InvariantResult CheckExactlyOnceEffect(Facts f)
    {
        var reapplied = f.Participant.Values.Where(p => p.Applications != 1).Select(p => p.OrderId).ToList();

        var expectedSpend = f.Participant.Values
            .Where(p => p.Status == ParticipantStatus.Created)
            .GroupBy(p => p.CustomerId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(p => (long)p.Qty), StringComparer.Ordinal);
        var customers = expectedSpend.Keys.Union(f.Truth.CustomerSpend.Keys, StringComparer.Ordinal);
        var wrongSpend = customers
            .Where(c => f.Truth.CustomerSpend.GetValueOrDefault(c) != expectedSpend.GetValueOrDefault(c))
            .ToList();

        // Counted separately: an order id and a customer id may be spelled alike. Orders first among the examples: an
        // order's trace shows the second application, a customer's sum only its result (and with many customers
        // wrong, sorted together, "cust-…" filled every example place).
        return Verdict(ExactlyOnceEffect, reapplied.Count + wrongSpend.Count,
            [.. reapplied.Order(StringComparer.Ordinal), .. wrongSpend.Order(StringComparer.Ordinal)], sorted: false);
    }

    /// <summary>
    /// A rejection must be undone exactly once; nothing else may be undone. Orders the initiator never recorded
    /// are skipped here: they are phantoms, and <see cref="CheckNoPhantomOrder"/> owns them. A created order whose
    /// initiator record is still pending has not been compensated wrongly, only not yet acknowledged, so
    /// <see cref="CheckConverged"/> owns that.
    /// </summary>
    private static InvariantResult CheckCompensatedExactlyOnce(Facts f)
    {
        var violations = new List<string>();
        foreach (var i in f.Initiator.Values)
        {
            var ok = f.Participant.TryGetValue(i.OrderId, out var p)
                ? p.Status switch
                {
                    // Still pending with nothing restocked: the rejection's reply has not been applied yet. Not a wrong
                    // compensation but a missing one, which `converged` names (a run that drained has none); counted
                    // here too, a run stopped mid-backlog reported thousands of orders "compensated wrongly".
                    ParticipantStatus.Rejected => (i.Status == InitiatorStatus.Compensated && i.Restocks == 1)
                                                  || (i.Status == InitiatorStatus.Pending && i.Restocks == 0),
                    _ => i.Status != InitiatorStatus.Compensated && i.Restocks == 0,
                }
                // Not (yet) processed by the participant: there is nothing to compensate for.
                : i.Status != InitiatorStatus.Compensated && i.Restocks == 0;
            if (!ok)
                violations.Add(i.OrderId);
        }
        return Verdict(CompensatedExactlyOnce, violations);
    }

    /// <summary>
    /// Stock only moves through orders: it goes down by a deduction and back up by a restock. So what is missing
    /// from a sku must equal what the initiator's orders still hold deducted. Compensated orders hold nothing;
    /// a double restock or a missing one makes the sum wrong even when the ledger looks fine.
    /// </summary>
    private static InvariantResult CheckStockConservation(Facts f)
    {
        var held = f.Initiator.Values
            .Where(i => i.Status is InitiatorStatus.Pending or InitiatorStatus.Done)
            .GroupBy(i => i.Sku, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(i => (long)i.Qty), StringComparer.Ordinal);

        var skus = f.Truth.InitialStock.Keys
            .Union(f.Truth.FinalStock.Keys, StringComparer.Ordinal)
            .Union(f.Initiator.Values.Select(i => i.Sku), StringComparer.Ordinal);

        return Verdict(StockConservation, skus.Where(sku =>
            f.Truth.InitialStock.GetValueOrDefault(sku) - f.Truth.FinalStock.GetValueOrDefault(sku)
            != held.GetValueOrDefault(sku)));
    }

    /// <summary>An acknowledgement is the strongest promise the system makes: the order happened, end to end.</summary>
    private static InvariantResult CheckAcknowledgedDurable(Facts f) =>
        Verdict(AcknowledgedDurable, f.Clients
            .Where(c => c.Outcome == OpType.Ok && !(f.AtInitiator(c.OrderId) && f.AtParticipant(c.OrderId)))
            .Select(c => c.OrderId));

    /// <summary>
    /// A definite failure is a promise too: nothing happened. An indeterminate order may go either way, but a
    /// transaction must not stop half way. And once an order was acknowledged, telling a retry that it definitely
    /// failed contradicts the acknowledgement (a Fail before an Ok is fine: a refused connection, then a retry that got through).
    /// </summary>
    private static InvariantResult CheckFailedAbsent(Facts f) =>
        Verdict(FailedAbsent, f.Clients.Where(c =>
        {
            bool atInitiator = f.AtInitiator(c.OrderId), atParticipant = f.AtParticipant(c.OrderId);
            return c.FailedAfterOk
                || (c.Outcome == OpType.Fail && (atInitiator || atParticipant))
                || (c.Outcome == OpType.Info && atInitiator != atParticipant);
        }).Select(c => c.OrderId));

    /// <summary>
    /// Eventual consistency has to arrive in bounded time to count. Every unit still in doubt is one violation,
    /// plus one for missing the deadline. Pending orders are counted once, whether the implementation's own probe
    /// or the initiator's table found more of them.
    /// </summary>
    private static InvariantResult CheckConverged(Facts f)
    {
        var pending = f.Initiator.Values.Where(i => i.Status == InitiatorStatus.Pending).Select(i => i.OrderId).ToList();
        var doubt = f.Truth.InDoubt;
        var violations = doubt.OutboxRows + doubt.QueuedMessages + doubt.OtherInDoubt
                         + Math.Max(doubt.PendingOrders, pending.Count)
                         + (f.Truth.DrainedBeforeDeadline ? 0 : 1);
        var ok = f.Truth.DrainedBeforeDeadline && !doubt.Any && pending.Count == 0;
        return Verdict(Converged, ok ? 0 : Math.Max(violations, 1), pending);
    }

    // ---- time to consistency --------------------------------------------------------------------------

    /// <summary>
    /// From the client's first invoke (the moment the business asked) to the initiator's resolution (the moment
    /// both sides agree). Clocks may differ slightly between the harness and the database, so negatives clamp to 0.
    /// </summary>
    private static (TimeToConsistency Summary, List<double> Each) MeasureTimeToConsistency(Facts f)
    {
        var millis = f.Clients
            .Where(c => c.FirstInvokedAt is not null)
            .Select(c => (Invoked: c.FirstInvokedAt!.Value, Resolved: f.Initiator.GetValueOrDefault(c.OrderId)?.ResolvedAt))
            .Where(x => x.Resolved is not null)
            .Select(x => Math.Max(0, (x.Resolved!.Value - x.Invoked).TotalMilliseconds))
            .Order()
            .ToList();

        return (millis.Count == 0
            ? TimeToConsistency.None
            : new TimeToConsistency(NearestRank(millis, 50), NearestRank(millis, 99), millis[^1], millis.Count), millis);
    }

    /// <summary>Nearest-rank percentile of an ascending, non-empty list: the value at rank ⌈p/100 · n⌉.</summary>
    internal static double NearestRank(IReadOnlyList<double> ascending, double percent)
    {
        // In decimal: 99.9 % of 1000 is rank 999 exactly, where doubles may make it 999.0000000000001 and round up.
        var rank = (int)Math.Ceiling((decimal)percent * ascending.Count / 100m);
        return ascending[Math.Clamp(rank, 1, ascending.Count) - 1];
    }

    // ---- shared plumbing ------------------------------------------------------------------------------

    private static InvariantResult Verdict(string name, IEnumerable<string> offenders)
    {
        var distinct = offenders.Distinct(StringComparer.Ordinal).ToList();
        return Verdict(name, distinct.Count, distinct);
    }

    private static InvariantResult Verdict(string name, int violations, IEnumerable<string> examples, bool sorted = true) =>
        new(name, violations == 0, violations,
            (sorted ? examples.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal) : examples.Distinct(StringComparer.Ordinal)).Take(MaxExamples).ToList(),
            Descriptions[name]);

    /// <summary>The history and the ground truth, indexed by order id once for all the checks.</summary>
    private sealed record Facts(
        GroundTruth Truth,
        IReadOnlyList<ClientOrder> Clients,
        IReadOnlyDictionary<string, InitiatorOrder> Initiator,
        IReadOnlyDictionary<string, ParticipantOrder> Participant)
    {
        public static Facts From(History history, GroundTruth truth) => new(
            truth,
            history.ClientOrders(),
            ById(truth.InitiatorOrders, i => i.OrderId),
            ById(truth.ParticipantOrders, p => p.OrderId));

        public bool AtInitiator(string orderId) => Initiator.ContainsKey(orderId);
        public bool AtParticipant(string orderId) => Participant.ContainsKey(orderId);

        // Order ids are primary keys in both databases; should a reader ever hand over a repeat, the first row wins
        // rather than the checker crashing (a repeated application is what Applications is for).
        // A loop, not GroupBy: a group object and its array for each of a long run's hundreds of thousands of orders.
        private static IReadOnlyDictionary<string, T> ById<T>(IReadOnlyCollection<T> rows, Func<T, string> id)
        {
            var byId = new Dictionary<string, T>(rows.Count, StringComparer.Ordinal);
            foreach (var row in rows) byId.TryAdd(id(row), row);
            return byId;
        }
    }
}
