using Dtx.Shared.Failpoints;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Dtx.Tests.Failpoints;

public sealed class FailpointSpecTests
{
    [Theory]
    [InlineData("crash", FailpointAction.Crash, FailpointTrigger.Once)]
    [InlineData("crash@once", FailpointAction.Crash, FailpointTrigger.Once)]
    [InlineData("error@always", FailpointAction.Error, FailpointTrigger.Always)]
    [InlineData("delay(250ms)@every(3)", FailpointAction.Delay, FailpointTrigger.EveryNth)]
    [InlineData("pause(2s)@p(0.5,seed=7)", FailpointAction.Pause, FailpointTrigger.Probability)]
    public void Parses_and_prints_back_the_same_spec(string text, FailpointAction action, FailpointTrigger trigger)
    {
        var spec = FailpointSpec.Parse(text);
        Assert.Equal(action, spec.Action);
        Assert.Equal(trigger, spec.Trigger);
        Assert.Equal(spec, FailpointSpec.Parse(spec.ToString()));
    }

    [Theory]
    [InlineData("explode", "unknown failpoint action")]
    [InlineData("delay", "needs a duration")]
    [InlineData("crash@every(0)", "trigger must be")]
    [InlineData("crash@p(1.5)", "probability must be")]
    [InlineData("delay(fast)", "not a duration")]
    [InlineData("crash@p(0.1,42)", "seed")]
    public void Rejects_bad_specs_with_a_message_that_says_why(string text, string expected)
    {
        var error = Assert.Throws<FormatException>(() => FailpointSpec.Parse(text));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task Once_fires_on_the_first_hit_only()
    {
        var failpoints = Declared("step");
        failpoints.Arm("step", FailpointSpec.Parse("error@once"));

        await Assert.ThrowsAsync<FailpointException>(() => failpoints.HitAsync("step").AsTask());
        await failpoints.HitAsync("step");
        await failpoints.HitAsync("step");
    }

    [Fact]
    public async Task Every_nth_fires_on_multiples_of_n()
    {
        var failpoints = Declared("step");
        failpoints.Arm("step", FailpointSpec.Parse("error@every(3)"));

        var fired = new List<int>();
        for (var hit = 1; hit <= 9; hit++)
        {
            try
            {
                await failpoints.HitAsync("step");
            }
            catch (FailpointException)
            {
                fired.Add(hit);
            }
        }
        Assert.Equal([3, 6, 9], fired);
    }

    [Fact]
    public async Task A_probability_with_a_seed_fires_the_same_hits_every_time()
    {
        async Task<List<int>> FiredAsync()
        {
            var failpoints = Declared("step");
            failpoints.Arm("step", FailpointSpec.Parse("error@p(0.3,seed=42)"));
            var fired = new List<int>();
            for (var hit = 1; hit <= 200; hit++)
            {
                try
                {
                    await failpoints.HitAsync("step");
                }
                catch (FailpointException)
                {
                    fired.Add(hit);
                }
            }
            return fired;
        }

        var first = await FiredAsync();
        Assert.Equal(first, await FiredAsync());
        Assert.InRange(first.Count, 40, 80);
    }

    [Fact]
    public async Task Delay_holds_the_step_and_disarm_stops_it()
    {
        var failpoints = Declared("step");
        failpoints.Arm("step", FailpointSpec.Parse("delay(300ms)@always"));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await failpoints.HitAsync("step");
        Assert.True(watch.ElapsedMilliseconds >= 250, $"the delay held only {watch.ElapsedMilliseconds} ms");

        Assert.True(failpoints.Disarm("step"));
        watch.Restart();
        await failpoints.HitAsync("step");
        Assert.True(watch.ElapsedMilliseconds < 250);
    }

    [Fact]
    public void Arming_an_undeclared_failpoint_is_refused_with_the_known_names()
    {
        var failpoints = Declared("initiator.after-commit");
        var error = Assert.Throws<KeyNotFoundException>(() => failpoints.Arm("initiator.after-comit", FailpointSpec.Parse("crash")));
        Assert.Contains("initiator.after-commit", error.Message);
    }

    private static Dtx.Shared.Failpoints.Failpoints Declared(params string[] names)
    {
        var failpoints = new Dtx.Shared.Failpoints.Failpoints(NullLogger<Dtx.Shared.Failpoints.Failpoints>.Instance);
        failpoints.Declare(names);
        return failpoints;
    }
}
