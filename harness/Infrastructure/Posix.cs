using System.Runtime.InteropServices;

namespace Dtx.Harness.Infrastructure;

/// <summary>The few libc calls .NET has no API for.</summary>
internal static class Posix
{
    private const int ESRCH = 3;

    public static bool IsRoot => geteuid() == 0;

    /// <summary>
    /// Sends <paramref name="signal"/> to every process in group <paramref name="pgid"/>.
    /// Returns false when the group no longer exists.
    /// </summary>
    public static bool SignalGroup(int pgid, int signal) => SignalCore(-pgid, signal);

    /// <summary>Sends <paramref name="signal"/> to one process. Returns false when it no longer exists.</summary>
    public static bool SignalProcess(int pid, int signal) => SignalCore(pid, signal);

    private static bool SignalCore(int target, int signal)
    {
        if (kill(target, signal) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == ESRCH) return false;
        throw new InvalidOperationException($"kill({target}, {signal}) failed with errno {errno}");
    }

    /// <summary>The uid and gid of a local user, or null when there is no such user.</summary>
    public static (uint Uid, uint Gid)? LookUpUser(string name)
    {
        IntPtr entry = getpwnam(name);
        if (entry == IntPtr.Zero) return null;
        var passwd = Marshal.PtrToStructure<Passwd>(entry);
        return (passwd.Uid, passwd.Gid);
    }

    public static void ChangeOwner(string path, uint uid, uint gid)
    {
        if (chown(path, uid, gid) != 0)
            throw new IOException($"chown {path} failed with errno {Marshal.GetLastPInvokeError()}");
    }

    // glibc's struct passwd; only the fields up to pw_gid are read.
    [StructLayout(LayoutKind.Sequential)]
    private struct Passwd
    {
        public IntPtr Name;
        public IntPtr Password;
        public uint Uid;
        public uint Gid;
        public IntPtr Gecos;
        public IntPtr Dir;
        public IntPtr Shell;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr getpwnam([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [DllImport("libc", SetLastError = true)]
    private static extern int chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);
}
