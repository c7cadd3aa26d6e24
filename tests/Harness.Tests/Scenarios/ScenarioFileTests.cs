using Dtx.Harness.Scenarios;
using Xunit;

namespace Dtx.Tests.Scenarios;

public sealed class ScenarioFileTests
{
    [Fact]
    public void Every_shipped_scenario_is_valid()
    {
        Assert.NotEmpty(ScenarioCatalog.Names());
        foreach (var name in ScenarioCatalog.Names()) Assert.Equal(name, ScenarioCatalog.Find(name).Name);
    }

    [Fact]
    public void Crash_after_commit_crashes_the_initiator_at_least_three_times()
    {
        var scenario = ScenarioCatalog.Find("crash-after-commit");
        var crash = Assert.Single(scenario.Faults);
        Assert.Equal("initiator.after-commit", crash.Step);
        Assert.True(crash.At.Count >= 3);
        Assert.All(crash.At, at => Assert.True(at < scenario.Load.Duration, "every crash falls inside the load"));
    }

    [Theory]
    [InlineData("load: { rate: 5 }", "name is required")]
    [InlineData("name: x\nload: { rate: -1 }", "load.rate must be positive")]
    [InlineData("name: x\nload: { duration: soon }", "load.duration")]
    [InlineData("name: x\nbusiness: { refuseShare: 2 }", "business.refuseShare must be between 0 and 1")]
    [InlineData("name: x\nfaults: [ { kind: flood, step: initiator.after-commit, at: [1s] } ]", "faults[0].kind")]
    [InlineData("name: x\nfaults: [ { kind: crash, step: initiator.after-comit, at: [1s] } ]", "faults[0].step")]
    [InlineData("name: x\nfaults: [ { kind: crash, step: initiator.after-commit } ]", "faults[0].at")]
    [InlineData("name: x\nfaults: [ { kind: crash, step: initiator.after-commit, at: [1s], action: boom } ]", "faults[0].action")]
    [InlineData("name: x\nlod: { rate: 5 }", "f.yaml")]
    [InlineData("name: x\nfaults: [ { kind: crash, target: initiator, at: [1s] } ]", "use postgres or rabbitmq")]
    [InlineData("name: x\nfaults: [ { kind: crash, at: [1s] } ]", "needs a step")]
    [InlineData("name: x\nfaults: [ { kind: pause, target: participant, at: [1s] } ]", "faults[0].duration is required")]
    [InlineData("name: x\nfaults: [ { kind: pause, at: [1s], duration: 2s } ]", "faults[0].target is required")]
    public void A_bad_file_is_one_line_naming_the_field(string yaml, string expected)
    {
        var error = Assert.Throws<ScenarioException>(() => ScenarioFile.Parse(yaml, "f.yaml"));
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
