namespace Dtx.Harness.Engine;

public static class Percentiles
{
    /// <summary>Nearest-rank percentile (p in 0..100) of unsorted values; 0 for none.</summary>
    public static double Of(IReadOnlyCollection<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
