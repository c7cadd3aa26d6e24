using System.Diagnostics;
using Dtx.Harness.Infrastructure;
using Xunit;

namespace Dtx.Tests.Infrastructure;

public sealed class ChildProcessTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);
    private readonly string directory = TestDirectory.Create("child");

    private string LogPath => Path.Combine(directory, "child.log");

    public void Dispose() => TestDirectory.Delete(directory);

    [Fact]
    public async Task Child_runs_in_a_session_and_group_of_its_own()
    {
        await using var child = ChildProcess.Start("/bin/sleep", ["1000"], LogPath);

        Assert.True(await ProcessTable.WaitUntilAsync(() => ProcessTable.Read(child.Pid)?.Session == child.Pid, Patience));
        Assert.Equal(child.Pid, ProcessTable.Read(child.Pid)!.Group);
    }

    [Fact]
    public async Task Kill_kills_the_whole_group()
    {
        await using var child = ChildProcess.Start("/bin/bash", ["-c", "sleep 1000 & sleep 1000; wait"], LogPath);
        Assert.True(await ProcessTable.WaitUntilAsync(() => ProcessTable.InGroup(child.Pid).Count == 3, Patience),
            "bash and its two sleeps should be running in the child's group");

        child.Kill();

        Assert.Equal(128 + Signals.SIGKILL, await child.Exited.WaitAsync(Patience));
        Assert.True(await ProcessTable.WaitUntilAsync(() => ProcessTable.InGroup(child.Pid).Count == 0, Patience),
            "left in the group: " + string.Join(", ", ProcessTable.InGroup(child.Pid)));
    }

    [Fact]
    public async Task Kill_also_kills_children_that_moved_to_a_session_of_their_own()
    {
        // What PostgreSQL's postmaster does with every backend.
        await using var child = ChildProcess.Start("/bin/bash",
            ["-c", "setsid sleep 1000 & echo $! > escapee.pid; wait"], LogPath, workingDirectory: directory);
        string pidFile = Path.Combine(directory, "escapee.pid");
        Assert.True(await ProcessTable.WaitUntilAsync(
            () => File.Exists(pidFile) && File.ReadAllText(pidFile).Trim().Length > 0, Patience));
        int escapee = int.Parse(File.ReadAllText(pidFile));
        Assert.True(await ProcessTable.WaitUntilAsync(() => ProcessTable.Read(escapee)?.Session == escapee, Patience));

        child.Kill();

        await child.Exited.WaitAsync(Patience);
        Assert.True(await ProcessTable.WaitUntilAsync(() => !ProcessTable.IsAlive(escapee), Patience));
    }

    [Fact]
    public async Task StopAsync_ends_the_child_with_SIGTERM()
    {
        await using var child = ChildProcess.Start("/bin/sleep", ["1000"], LogPath);

        var stopwatch = Stopwatch.StartNew();
        await child.StopAsync(TimeSpan.FromSeconds(10));

        Assert.True(child.HasExited);
        Assert.Equal(128 + Signals.SIGTERM, await child.Exited);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task StopAsync_kills_a_child_that_ignores_SIGTERM_after_the_grace_period()
    {
        // Ignored dispositions are inherited, so the loop's sleeps ignore SIGTERM too.
        await using var child = ChildProcess.Start("/bin/bash",
            ["-c", "trap '' TERM; echo trapped; while :; do sleep 0.1; done"], LogPath);
        Assert.True(await ProcessTable.WaitUntilAsync(() => File.ReadAllText(LogPath).Contains("trapped"), Patience));

        var stopwatch = Stopwatch.StartNew();
        await child.StopAsync(TimeSpan.FromMilliseconds(500));

        Assert.Equal(128 + Signals.SIGKILL, await child.Exited);
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Exited_gives_the_exit_code_and_the_log_gets_stdout_and_stderr()
    {
        await using var child = ChildProcess.Start("/bin/bash", ["-c", "echo to-stdout; echo to-stderr >&2; exit 3"],
            LogPath);

        Assert.Equal(3, await child.Exited.WaitAsync(Patience));
        string log = await File.ReadAllTextAsync(LogPath);
        Assert.Contains("to-stdout", log);
        Assert.Contains("to-stderr", log);
    }

    [Fact]
    public async Task Environment_and_working_directory_are_passed_on()
    {
        await using var child = ChildProcess.Start("/bin/bash", ["-c", "echo \"$GREETING from $PWD\""],
            LogPath, new Dictionary<string, string> { ["GREETING"] = "hello" }, workingDirectory: directory);

        Assert.Equal(0, await child.Exited.WaitAsync(Patience));
        Assert.Contains($"hello from {directory}", await File.ReadAllTextAsync(LogPath));
    }

    [Fact]
    public async Task Signal_pauses_and_resumes_the_group()
    {
        await using var child = ChildProcess.Start("/bin/sleep", ["1000"], LogPath);
        Assert.True(await ProcessTable.WaitUntilAsync(() => ProcessTable.Read(child.Pid)?.Session == child.Pid, Patience));

        child.Signal(Signals.SIGSTOP);
        Assert.True(await ProcessTable.WaitUntilAsync(() => ProcessTable.Read(child.Pid)?.State == 'T', Patience));

        child.Signal(Signals.SIGCONT);
        Assert.True(await ProcessTable.WaitUntilAsync(() => ProcessTable.Read(child.Pid)?.State == 'S', Patience));
        Assert.False(child.HasExited);
    }
}
