using Dtx.Harness.Checking;

namespace Dtx.Harness.Load;

/// <summary>Collects client operations as they happen, each numbered in the order it was recorded (Jepsen's :index).</summary>
public sealed class HistoryRecorder
{
    private readonly List<Op> _ops = [];
    private long _next;

    public Op Record(int process, OpType type, Dtx.Shared.Business.PlaceOrder order, double atSeconds, string? detail = null)
    {
        lock (_ops)
        {
            var op = new Op(_next++, process, type, order.OrderId, order.Sku, order.Qty, order.CustomerId, atSeconds, DateTimeOffset.UtcNow, detail);
            _ops.Add(op);
            return op;
        }
    }

    public History ToHistory()
    {
        lock (_ops) return new History([.. _ops]);
    }
}
