using System.Runtime.InteropServices;

namespace Litecast.Actors.Primary;

/// <summary>Sleeps for less than a millisecond, which <see cref="Thread.Sleep(TimeSpan)"/> cannot (it rounds to
/// whole milliseconds).</summary>
internal static partial class ShortSleep
{
    public static void For(TimeSpan pause) => usleep((uint)pause.TotalMicroseconds);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int usleep(uint microseconds);
}
