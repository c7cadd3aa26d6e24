using Dtx.Shared.Sql;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Dtx.Tests.Shared;

/// <summary>
/// The group commit behind the batching consumers, as pure logic: what arrives while a group commits forms the next
/// group (no waiting for a group to fill), a group never exceeds its size, a failed group tells each of its items to
/// go alone, and stopping releases whoever waits.
/// </summary>
public sealed class GroupCommitTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task What_arrives_while_a_group_commits_is_the_next_group_and_a_lone_item_goes_at_once()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var groups = new List<int[]>();
        var commit = new GroupCommit<int>("test", async (group, _) =>
        {
            lock (groups) groups.Add([.. group]);
            if (group[0] == 1) await gate.Task;
        }, maxGroup: 4, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        commit.Start(stop.Token);

        var first = commit.CommitAsync(1);
        await Until(() => groups.Count == 1);
        var more = Enumerable.Range(2, 6).Select(commit.CommitAsync).ToArray();
        Assert.False(first.IsCompleted);
        gate.SetResult();

        Assert.True(await first.WaitAsync(Patience));
        Assert.All(await Task.WhenAll(more).WaitAsync(Patience), Assert.True);
        Assert.Equal([[1], [2, 3, 4, 5], [6, 7]], groups);
        stop.Cancel();
    }

    [Fact]
    public async Task A_failed_group_tells_each_item_to_go_alone_and_the_next_group_still_commits()
    {
        var commit = new GroupCommit<string>("test", (group, _) =>
            group.Contains("poison") ? throw new InvalidOperationException("cannot apply") : Task.CompletedTask, maxGroup: 8, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        commit.Start(stop.Token);

        Assert.False(await commit.CommitAsync("poison").WaitAsync(Patience));
        Assert.True(await commit.CommitAsync("good").WaitAsync(Patience));
        stop.Cancel();
    }

    [Fact]
    public async Task Stopping_releases_the_items_still_waiting_without_committing_them()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var committed = 0;
        var commit = new GroupCommit<int>("test", async (group, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            Interlocked.Add(ref committed, group.Count);
        }, maxGroup: 8, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        commit.Start(stop.Token);

        var inGroup = commit.CommitAsync(1);
        await Task.Delay(100);
        var waiting = commit.CommitAsync(2);
        stop.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => inGroup.WaitAsync(Patience));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Patience));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => commit.CommitAsync(3).WaitAsync(Patience));
        Assert.Equal(0, committed);
    }

    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }
}
