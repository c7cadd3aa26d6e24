using System.Runtime.InteropServices;

namespace Dtx.Tests.Infrastructure;

/// <summary>What /proc says about processes, for tests that check what is (still) running.</summary>
internal static class ProcessTable
{
    public sealed record Entry(int Pid, char State, int Parent, int Group, int Session, string CommandLine);

    public static IEnumerable<Entry> All()
    {
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out int pid)) continue;
            Entry? entry = Read(pid);
            if (entry is not null) yield return entry;
        }
    }

    public static Entry? Read(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            string commandLine = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
            return new Entry(pid, fields[0][0], int.Parse(fields[1]), int.Parse(fields[2]), int.Parse(fields[3]), commandLine);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // gone while we looked
        }
    }

    /// <summary>Live processes (not zombies) whose command line or environment mentions <paramref name="text"/>.</summary>
    public static List<Entry> Mentioning(string text) =>
        All().Where(p => p.State != 'Z' && (p.CommandLine.Contains(text) || EnvironmentOf(p.Pid).Contains(text))).ToList();

    public static List<Entry> InGroup(int pgid) => All().Where(p => p.Group == pgid && p.State != 'Z').ToList();

    public static bool IsAlive(int pid) => Read(pid) is { State: not 'Z' };

    /// <summary>Polls until <paramref name="condition"/> holds or <paramref name="timeout"/> passes; returns whether it held.</summary>
    public static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(100);
        }
        return true;
    }

    /// <summary>kill(2): sends <paramref name="signal"/> to one process; false when it is gone.</summary>
    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    /// <summary>shmctl(IPC_RMID): removes a System V shared memory segment once nothing is attached to it.</summary>
    public static void RemoveSharedMemory(int id) => shmctl(id, 0, IntPtr.Zero);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    [DllImport("libc", SetLastError = true)]
    private static extern int shmctl(int shmid, int cmd, IntPtr buf);

    private static string EnvironmentOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
