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

    public static IReadOnlyList<PlaceOrder> Generate(int count, BusinessPlan business, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(i => new PlaceOrder(
                $"ord-{i + 1:D6}",
                Sku(random.Next(business.Skus)),
                1 + random.Next(business.MaxQty),
                $"cust-{random.Next(business.Customers) + 1:D3}"))
            .ToList();
    }
}
