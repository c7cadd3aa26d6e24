using Dtx.Harness.Scenarios;
using Dtx.Shared.Business;

namespace Dtx.Harness.Load;

/// <summary>
/// The orders of a run, from the seed alone: the same seed gives every implementation exactly the same orders
/// in the same order, which is what makes their results comparable.
/// </summary>
public static class OrderGenerator
{
    public static string Sku(int index) => $"sku-{index + 1:D2}";

    public static IReadOnlyList<PlaceOrder> Generate(int count, BusinessPlan business, int seed, string idPrefix = "")
    {
        var source = new OrderSource(business, seed, count, idPrefix);
        return Enumerable.Range(0, count).Select(_ => source.Next()!).ToList();
    }
}

/// <summary>
/// The run's orders one at a time, for a load whose count is not known ahead (a closed model sends as many as its
/// clients manage): the n-th order taken is the same for a seed however the takers interleave, and there are at most
/// <paramref name="limit"/>, so that no load can grow without bound. <paramref name="idPrefix"/> sets apart the ids of
/// loads that share databases (a bench's steps).
/// </summary>
public sealed class OrderSource(BusinessPlan business, int seed, int limit, string idPrefix = "")
{
    private readonly Random _random = new(seed);

    // Every order of a sku (or a customer) shares one string: a new one per order cost a 600,000-order run about
    // 50 MB, in the orders and in the history that keeps them.
    private readonly string?[] _skus = new string?[business.Skus];
    private readonly Dictionary<int, string> _customers = [];
    private int _taken;

    /// <summary>Someone asked for an order after the last one was taken.</summary>
    public bool RanOut { get; private set; }

    /// <summary>The next order, or null once <paramref name="limit"/> have been taken.</summary>
    public PlaceOrder? Next()
    {
        lock (_random)
        {
            if (_taken >= limit)
            {
                RanOut = true;
                return null;
            }
            _taken++;
            var sku = _random.Next(business.Skus);
            var qty = 1 + _random.Next(business.MaxQty);
            var customer = _random.Next(business.Customers) + 1;
            if (!_customers.TryGetValue(customer, out var customerId)) _customers[customer] = customerId = $"cust-{customer:D3}";
            return new PlaceOrder($"{idPrefix}ord-{_taken:D6}", _skus[sku] ??= OrderGenerator.Sku(sku), qty, customerId);
        }
    }
}
