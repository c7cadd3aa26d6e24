using Dtx.Harness.Checking;
using Xunit;

namespace Dtx.Tests.Checking;

/// <summary>What a client asks for. Tests share one spec between the client side and the database side.</summary>
internal sealed record OrderSpec(string Id, string Sku = RunBuilder.SkuA, int Qty = 1, string Customer = RunBuilder.Alice);

/// <summary>
/// Builds a hand-made run: a client history plus the ground truth the databases would hold.
/// The "fate" methods (Created, Rejected, Deducted) keep the ground truth consistent — stock, ledger and spend
/// move together — so a test breaks exactly one thing with the tweak methods and sees which invariant notices.
/// </summary>
internal sealed class RunBuilder
{
    public const string SkuA = "sku-a";
    public const string SkuB = "sku-b";
    public const string Alice = "cust-alice";
    public const string Bob = "cust-bob";

    /// <summary>The wall clock at which the run starts.</summary>
    public static readonly DateTimeOffset T0 = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<Op> ops = [];
    private readonly Dictionary<string, long> initialStock = new();
    private readonly Dictionary<string, long> finalStock = new();
    private readonly Dictionary<string, long> spend = new();
    private readonly Dictionary<string, InitiatorOrder> initiator = new();
    private readonly Dictionary<string, ParticipantOrder> participant = new();
    private InDoubt inDoubt = new(0, 0, 0, 0);
    private bool drained = true;
    private int nextProcess;

    public RunBuilder Stock(string sku, long available)
    {
        initialStock[sku] = available;
        finalStock[sku] = available;
        return this;
    }

    // ---- client side -------------------------------------------------------------------------------------

    /// <summary>An invoke at <paramref name="atSeconds"/> and, unless <paramref name="outcome"/> is null, its completion 50 ms later.</summary>
    public RunBuilder Request(OrderSpec o, OpType? outcome, double atSeconds = 0)
    {
        var process = nextProcess++;
        var invoke = new Op(ops.Count, process, OpType.Invoke, o.Id, o.Sku, o.Qty, o.Customer,
            atSeconds, T0.AddSeconds(atSeconds));
        ops.Add(invoke);
        if (outcome is { } type)
            ops.Add(invoke with { Index = ops.Count, Type = type, AtSeconds = atSeconds + 0.05, WallClock = invoke.WallClock.AddMilliseconds(50) });
        return this;
    }

    public RunBuilder Ok(OrderSpec o, double atSeconds = 0) => Request(o, OpType.Ok, atSeconds);
    public RunBuilder Fail(OrderSpec o, double atSeconds = 0) => Request(o, OpType.Fail, atSeconds);
    public RunBuilder Info(OrderSpec o, double atSeconds = 0) => Request(o, OpType.Info, atSeconds);
    public RunBuilder Unanswered(OrderSpec o, double atSeconds = 0) => Request(o, null, atSeconds);

    // ---- what the databases hold (consistent) ------------------------------------------------------------

    /// <summary>Deducted at the initiator, created at the participant, charged to the customer.</summary>
    public RunBuilder Created(OrderSpec o, double resolvedAtSeconds = 1)
    {
        Deduct(o, InitiatorStatus.Done, T0.AddSeconds(resolvedAtSeconds), restocks: 0);
        participant[o.Id] = new ParticipantOrder(o.Id, o.Sku, o.Qty, o.Customer, ParticipantStatus.Created, T0, 1);
        spend[o.Customer] = spend.GetValueOrDefault(o.Customer) + o.Qty;
        return this;
    }

    /// <summary>Deducted, rejected by the participant, restocked exactly once.</summary>
    public RunBuilder Rejected(OrderSpec o, double resolvedAtSeconds = 1)
    {
        Deduct(o, InitiatorStatus.Compensated, T0.AddSeconds(resolvedAtSeconds), restocks: 1);
        finalStock[o.Sku] += o.Qty;
        participant[o.Id] = new ParticipantOrder(o.Id, o.Sku, o.Qty, o.Customer, ParticipantStatus.Rejected, T0, 1);
        return this;
    }

    /// <summary>Deducted at the initiator and still awaiting the participant.</summary>
    public RunBuilder Pending(OrderSpec o)
    {
        Deduct(o, InitiatorStatus.Pending, resolvedAt: null, restocks: 0);
        return this;
    }

    private void Deduct(OrderSpec o, InitiatorStatus status, DateTimeOffset? resolvedAt, int restocks)
    {
        initialStock.TryAdd(o.Sku, 1000);
        finalStock[o.Sku] = finalStock.GetValueOrDefault(o.Sku, initialStock[o.Sku]) - o.Qty;
        initiator[o.Id] = new InitiatorOrder(o.Id, o.Sku, o.Qty, o.Customer, status, T0, resolvedAt, restocks);
    }

    // ---- tweaks that break one thing -------------------------------------------------------------------

    public RunBuilder AtInitiator(string id, Func<InitiatorOrder, InitiatorOrder> change) { initiator[id] = change(initiator[id]); return this; }
    public RunBuilder AtParticipant(string id, Func<ParticipantOrder, ParticipantOrder> change) { participant[id] = change(participant[id]); return this; }
    public RunBuilder WithoutInitiatorRow(string id) { Assert.True(initiator.Remove(id)); return this; }
    public RunBuilder WithoutParticipantRow(string id) { Assert.True(participant.Remove(id)); return this; }
    public RunBuilder AddParticipantRow(ParticipantOrder p) { participant[p.OrderId] = p; return this; }
    public RunBuilder ShiftFinalStock(string sku, long delta) { finalStock[sku] = finalStock.GetValueOrDefault(sku) + delta; return this; }
    public RunBuilder ShiftSpend(string customer, long delta) { spend[customer] = spend.GetValueOrDefault(customer) + delta; return this; }
    public RunBuilder StillInDoubt(InDoubt doubt) { inDoubt = doubt; return this; }
    public RunBuilder MissedDeadline() { drained = false; return this; }

    // ---- results ------------------------------------------------------------------------------------------

    public History History() => new(ops);

    public GroundTruth Truth() => new(
        new Dictionary<string, long>(initialStock), new Dictionary<string, long>(finalStock),
        initiator.Values.ToList(), participant.Values.ToList(),
        new Dictionary<string, long>(spend), inDoubt, drained);

    public CheckResult Check() => Checker.Check(History(), Truth());
}

internal static class CheckAssert
{
    public static InvariantResult Invariant(this CheckResult result, string name) =>
        Assert.Single(result.Invariants, i => i.Name == name);

    /// <summary>
    /// Exactly the named invariants fail and every other one holds: proves a violation is noticed by the
    /// invariant that owns it, and that the others are not failing for an unrelated reason.
    /// </summary>
    public static void OnlyFails(this CheckResult result, params string[] failing)
    {
        var actuallyFailing = result.Invariants.Where(i => !i.Ok).Select(i => i.Name).Order().ToArray();
        Assert.Equal(failing.Order().ToArray(), actuallyFailing);
        Assert.False(result.Valid);
    }

    /// <summary>The invariant failed with this many violations and these examples (sorted, as reported).</summary>
    public static void Violated(this CheckResult result, string name, int violations, params string[] examples)
    {
        var invariant = result.Invariant(name);
        Assert.False(invariant.Ok);
        Assert.Equal(violations, invariant.Violations);
        Assert.Equal(examples, invariant.Examples);
    }
}
