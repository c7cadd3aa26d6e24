using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Scenarios;
using Xunit;

namespace Dtx.Tests.Scenarios;

/// <summary>A scenario's thresholds against measured figures (latency: every request's): each bound crossed is one line, and one that could not be measured is not a pass.</summary>
public sealed class ThresholdsTests
{
    private static readonly Latency Latency = new(P50Ms: 40, P90Ms: 200, P99Ms: 900, MaxMs: 1500);
    private static readonly TimeToConsistency Consistency = new(P50Ms: 300, P99Ms: 4000, MaxMs: 6000, Orders: 500);
    private static readonly Throughput Throughput = new(OkPerSecond: 28.5, RequestedPerSecond: 40);

    [Fact]
    public void Bounds_held_say_nothing()
    {
        var held = new Thresholds(LatencyP50Ms: 40, LatencyP99Ms: 900, TimeToConsistencyP50Ms: 300, TimeToConsistencyP99Ms: 4000, MinOkPerSecond: 28.5);
        Assert.Empty(held.CrossedBy(Latency, Consistency, Throughput));
        Assert.Empty(Thresholds.None.CrossedBy(Latency.None, TimeToConsistency.None, new Throughput(0, 0)));
    }

    [Fact]
    public void Each_bound_crossed_is_one_line_with_the_figure_and_the_bound()
    {
        var tight = new Thresholds(LatencyP50Ms: 39, LatencyP99Ms: 800, TimeToConsistencyP50Ms: 299, TimeToConsistencyP99Ms: 3999, MinOkPerSecond: 30);
        Assert.Equal(
        [
            "threshold crossed: latency p50 of every request 40 ms, above the 39 ms the scenario allows",
            "threshold crossed: latency p99 of every request 900 ms, above the 800 ms the scenario allows",
            "threshold crossed: time to consistency p50 300 ms, above the 299 ms the scenario allows",
            "threshold crossed: time to consistency p99 4000 ms, above the 3999 ms the scenario allows",
            "threshold crossed: 28.5 ok/s, below the 30 ok/s the scenario needs",
        ], tight.CrossedBy(Latency, Consistency, Throughput));
    }

    [Fact]
    public void A_bound_with_nothing_to_measure_is_not_shown_to_hold()
    {
        var bounds = new Thresholds(LatencyP99Ms: 800, TimeToConsistencyP99Ms: 5000);
        Assert.Equal(
        [
            "threshold not shown: latency p99 of every request must be at most 800 ms, but no request was made",
            "threshold not shown: time to consistency p99 must be at most 5000 ms, but no order reached consistency",
        ], bounds.CrossedBy(Latency.None, TimeToConsistency.None, new Throughput(0, 40)));
    }
}
