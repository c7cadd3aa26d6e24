namespace Dtx.Shared.Business;

/// <summary>
/// Which customers the order service refuses. A stable hash of the customer id, not a random draw, so that a
/// redelivered or republished message gets the same answer as the first delivery: if the decision could change
/// between deliveries, a duplicate would not just repeat an effect but contradict it.
/// </summary>
public sealed class CustomerPolicy(double refuseShare)
{
    public double RefuseShare { get; } = refuseShare is >= 0 and <= 1
        ? refuseShare
        : throw new ArgumentOutOfRangeException(nameof(refuseShare), "the refused share is a fraction from 0 to 1");

    public Outcome Decide(string customerId) => Bucket(customerId) < RefuseShare * 10_000 ? Outcome.Rejected : Outcome.Created;

    // FNV-1a: the same on every machine and every run, unlike string.GetHashCode.
    private static uint Bucket(string customerId)
    {
        var hash = 2166136261u;
        foreach (var c in customerId)
        {
            hash ^= c;
            hash *= 16777619u;
        }
        return hash % 10_000;
    }
}
