using Dtx.Harness.Checking;

namespace Dtx.Harness.Load;

/// <summary>Collects client operations as they happen, each numbered in the order it was recorded (Jepsen's :index).</summary>
public sealed class HistoryRecorder
{
    private readonly List<Op> _ops = [];
    private long _next;
    private readonly int[] _tally = new int[Enum.GetValues<OpType>().Length];

    public Op Record(int process, OpType type, Dtx.Shared.Business.PlaceOrder order, double atSeconds, string? detail = null)
    {
        lock (_ops)
        {
            var op = new Op(_next++, process, type, order.OrderId, order.Sku, order.Qty, order.CustomerId, atSeconds, DateTimeOffset.UtcNow, detail);
            _ops.Add(op);
            _tally[(int)type]++;
            return op;
        }
    }

    /// <summary>The requests made so far and their answers, for the progress lines; an order re-sent counts each time.</summary>
    public (int Requested, int Ok, int Failed, int Indeterminate) Tally()
    {
        lock (_ops) return (_tally[(int)OpType.Invoke], _tally[(int)OpType.Ok], _tally[(int)OpType.Fail], _tally[(int)OpType.Info]);
    }

    public History ToHistory()
    {
        lock (_ops) return new History([.. _ops]);
    }
}
