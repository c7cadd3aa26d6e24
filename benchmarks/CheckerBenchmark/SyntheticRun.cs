using Dtx.Harness.Checking;

namespace Dtx.Benchmarks.Checker;

/// <summary>
/// A consistent run of <c>n</c> orders, as the checker would get it after a real drain: most acknowledged, some
/// refused (409, no trace), some indeterminate (half of them happened), a share rejected and compensated, and a few
/// retried. Every invariant holds, so the checker does all of its work and finds nothing.
/// </summary>
public static class SyntheticRun
{
    public static (History History, GroundTruth Truth) Build(int n, int seed = 42)
    {
        var random = new Random(seed);
        var start = DateTimeOffset.UnixEpoch.AddYears(56);
        var ops = new List<Op>(2 * n + n / 20);
        var initiator = new List<InitiatorOrder>(n);
        var participant = new List<ParticipantOrder>(n);
        var spend = new Dictionary<string, long>(StringComparer.Ordinal);
        var deducted = new Dictionary<string, long>(StringComparer.Ordinal);
        long index = 0;
        for (var i = 0; i < n; i++)
        {
            var orderId = $"ord-{i:D7}";
            var sku = $"sku-{random.Next(64):D2}";
            var customer = $"cust-{random.Next(1000):D4}";
            var qty = 1 + random.Next(3);
            var at = start.AddMilliseconds(i);
            var roll = random.NextDouble();
            var outcome = roll < 0.05 ? OpType.Fail : roll < 0.10 ? OpType.Info : OpType.Ok;
            var process = i % 256;
            ops.Add(new Op(index++, process, OpType.Invoke, orderId, sku, qty, customer, i / 1000.0, at));
            if (roll > 0.97)
            {
                // A retry: the first attempt timed out, the second got through.
                ops.Add(new Op(index++, process, OpType.Info, orderId, sku, qty, customer, i / 1000.0, at, "timeout"));
                ops.Add(new Op(index++, process, OpType.Invoke, orderId, sku, qty, customer, i / 1000.0, at));
            }
            ops.Add(new Op(index++, process, outcome, orderId, sku, qty, customer, i / 1000.0, at));
            var happened = outcome == OpType.Ok || (outcome == OpType.Info && random.Next(2) == 0);
            if (!happened) continue;
            var rejected = random.NextDouble() < 0.1;
            initiator.Add(new InitiatorOrder(orderId, sku, qty, customer, rejected ? InitiatorStatus.Compensated : InitiatorStatus.Done,
                at, at.AddMilliseconds(20), rejected ? 1 : 0));
            participant.Add(new ParticipantOrder(orderId, sku, qty, customer, rejected ? ParticipantStatus.Rejected : ParticipantStatus.Created,
                at.AddMilliseconds(10), 1));
            if (rejected) continue;
            spend[customer] = spend.GetValueOrDefault(customer) + qty;
            deducted[sku] = deducted.GetValueOrDefault(sku) + qty;
        }
        var initial = Enumerable.Range(0, 64).ToDictionary(s => $"sku-{s:D2}", _ => (long)n, StringComparer.Ordinal);
        var final = initial.ToDictionary(kv => kv.Key, kv => kv.Value - deducted.GetValueOrDefault(kv.Key), StringComparer.Ordinal);
        var truth = new GroundTruth(initial, final, initiator, participant, spend, new InDoubt(0, 0, 0, 0), DrainedBeforeDeadline: true);
        return (new History(ops), truth);
    }
}
