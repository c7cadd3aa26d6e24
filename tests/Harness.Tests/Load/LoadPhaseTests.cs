using Dtx.Harness.Load;
using Dtx.Harness.Scenarios;
using Xunit;

namespace Dtx.Tests.Load;

/// <summary>The schedule of each load phase, worked out by hand: arrivals of the open ones, clients of the closed ones.</summary>
public sealed class LoadPhaseTests
{
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void Inject_schedules_its_rate_evenly_from_the_phase_start()
    {
        var arrivals = new LoadPhase.Inject(10, S(2)).Arrivals(null).Select(t => t.TotalSeconds).ToList();
        Assert.Equal(20, arrivals.Count);
        Assert.Equal(0, arrivals[0]);
        Assert.All(arrivals.Zip(arrivals.Skip(1)), gap => Assert.Equal(0.1, gap.Second - gap.First, 6));
    }

    [Fact]
    public void Ramping_inject_goes_on_from_the_rate_before_it_and_its_arrivals_follow_the_ramp()
    {
        var steady = new LoadPhase.Inject(10, S(2));
        var up = new LoadPhase.RampingInject(30, S(4));
        Assert.Equal(10, up.StartFrom(steady));
        var arrivals = up.Arrivals(steady).Select(t => t.TotalSeconds).ToList();
        // The area under a rate going from 10 to 30/s over 4 s: 80 arrivals, the first at once.
        Assert.Equal(80, arrivals.Count);
        Assert.Equal(80, up.PlannedRequests(steady));
        Assert.Equal(0, arrivals[0]);
        // Arrivals get denser as the rate climbs: 1/10 s apart at the start, 1/30 s at the end.
        Assert.Equal(0.1, arrivals[1] - arrivals[0], 2);
        Assert.Equal(1.0 / 30, arrivals[^1] - arrivals[^2], 2);
        // Half the time in, the rate is 20/s and 10·2 + 5·2²/2 = 30 arrivals have come (the rate climbs 5/s each second).
        Assert.Equal(30, arrivals.Count(t => t < 2));

        // From nothing (the start, or after a closed phase) and down to nothing.
        Assert.Equal(0, new LoadPhase.RampingInject(20, S(2)).StartFrom(null));
        Assert.Equal(0, new LoadPhase.RampingInject(20, S(2)).StartFrom(new LoadPhase.KeepConstant(5, S(1))));
        Assert.Equal(20, new LoadPhase.RampingInject(20, S(2)).Arrivals(null).Count());
        var down = new LoadPhase.RampingInject(0, S(2)).Arrivals(new LoadPhase.Inject(20, S(1))).Select(t => t.TotalSeconds).ToList();
        Assert.Equal(20, down.Count);
        Assert.True(down[^1] - down[^2] > down[1] - down[0], "arrivals thin out as the rate falls");
    }

    [Theory]
    // As many arrivals as the area under the rate, rounded down, as rate × duration always was: exact areas whose
    // last root falls a rounding error short of the phase's end, and areas with a fraction.
    [InlineData(18, 0, 7, 63)]
    [InlineData(8, 1, 10, 45)]
    [InlineData(15, 33, 7, 168)]
    [InlineData(7.5, 7.5, 3, 22)]
    [InlineData(0, 7, 3, 10)]
    [InlineData(1e-7, 20, 2, 20)]
    public void An_open_phase_sends_the_area_under_its_rate_rounded_down(double from, double to, double seconds, int expected)
    {
        var previous = new LoadPhase.Inject(from, S(1));
        var phase = from == to ? (LoadPhase)new LoadPhase.Inject(to, S(seconds)) : new LoadPhase.RampingInject(to, S(seconds));
        var arrivals = phase.Arrivals(previous).ToList();
        Assert.Equal(expected, arrivals.Count);
        Assert.Equal(expected, phase.ScheduledRequests(previous));
        Assert.All(arrivals.Zip(arrivals.Skip(1)), pair => Assert.True(pair.Second > pair.First, "arrivals in order"));
        Assert.True(arrivals[^1] < S(seconds));
    }

    [Fact]
    public void A_closed_phase_schedules_no_arrivals_and_ramps_its_clients()
    {
        var ramp = new LoadPhase.RampingConstant(10, S(10));
        Assert.Empty(ramp.Arrivals(null));
        Assert.Equal(0, ramp.PlannedRequests(null));
        Assert.Equal(0, ramp.ClientsAt(null, S(0)));
        Assert.Equal(5, ramp.ClientsAt(null, S(5)));
        Assert.Equal(10, ramp.ClientsAt(null, S(12)));
        var fromFour = new LoadPhase.KeepConstant(4, S(3));
        Assert.Equal(7, ramp.ClientsAt(fromFour, S(5)));
        Assert.Equal(4, fromFour.ClientsAt(null, S(1)));

        // Each client's window agrees with the count: a rising ramp starts client k when the ramp reaches k + ½.
        Assert.Equal((S(0.5), S(10)), ramp.ClientWindow(null, 0)!.Value);
        Assert.Equal((S(9.5), S(10)), ramp.ClientWindow(null, 9)!.Value);
        Assert.False(ramp.ClientWindow(null, 10).HasValue);
        var down = new LoadPhase.RampingConstant(0, S(8));
        Assert.Equal((S(0), S(7)), down.ClientWindow(fromFour, 0)!.Value); // 4 → 0 over 8 s: client 0 stops at ½
        Assert.Equal((S(0), S(1)), down.ClientWindow(fromFour, 3)!.Value);
        Assert.Equal((S(0), S(3)), fromFour.ClientWindow(null, 3)!.Value);
        Assert.False(fromFour.ClientWindow(null, 4).HasValue);
        foreach (var at in new[] { 0.7, 2.2, 4.9, 7.6 })
            Assert.Equal(down.ClientsAt(fromFour, S(at)), Enumerable.Range(0, 4).Count(k => down.ClientWindow(fromFour, k) is { } w && w.From <= S(at) && S(at) < w.To));
    }

    [Fact]
    public void Duration_stretches_every_phase_in_proportion()
    {
        var plan = new LoadPlan([new LoadPhase.Inject(10, S(4)), new LoadPhase.KeepConstant(3, S(6))], S(5));
        var shorter = plan.Lasting(S(5));
        Assert.Equal([S(2), S(3)], shorter.Phases.Select(p => p.During));
        Assert.Equal([new LoadPhase.Inject(10, S(2)), new LoadPhase.KeepConstant(3, S(3))], shorter.Phases);
        Assert.Equal(4, plan.NominalRate); // 40 open-model requests over 10 s
    }
}
