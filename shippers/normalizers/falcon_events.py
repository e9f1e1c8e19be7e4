"""Data tables for the Falcon normalizer: event_simpleName → ECS categorization, and friends.

Everything here is plain data so the hot path in `falcon.py` is dictionary lookups only.
The categorization follows Elastic's FDR ingest pipeline (elastic/integrations,
packages/crowdstrike/data_stream/fdr) so Kibana dashboards and detection rules that filter
on event.kind/category/type/outcome see the same values for our documents.
"""

from __future__ import annotations

__all__ = [
    "CATEGORIZATION",
    "DNS_TYPES",
    "IANA_TRANSPORT",
    "INTEGRITY_LEVELS",
    "MODULE_LOAD_EVENTS",
    "PLATFORM_OS",
    "REG_OPERATION_ACTION",
    "REG_VALUE_TYPES",
    "SEVERITY_NAME_SCORE",
    "Categorization",
]

# (kind, category, type, outcome); the tuples are shared between documents and converted to
# fresh lists per document (a list in a document must never be aliased across documents).
Categorization = tuple[str, tuple[str, ...], tuple[str, ...], str]

# Compact source of the table: "name kind categories types outcome" per line; categories and
# types are comma separated. Kept as text so the table reads like the reference it mirrors.
_TABLE = """
AcUninstallConfirmation state package deletion success
AcUnloadConfirmation state package deletion success
AgentConnect event network,session connection,info success
AgentOnline state configuration,package,host change,installation,start success
AmsiRegistrationStatus state host info success
AsepFileChange event file creation,change success
AsepKeyUpdate event registry change success
AsepValueUpdate event registry change success
AssociateIndicator alert malware info unknown
AssociateTreeIdWithRoot alert malware info success
BITSJobCreated event network,file connection,creation success
BZip2FileWritten event file creation success
BehaviorWhitelisted event configuration change success
BrowserInjectedThread event process access,change success
ClassifiedModuleLoad event library start success
CloudAssociateTreeIdWithRoot alert malware deletion success
CommandHistory event process end,info success
ConfigStateUpdate event configuration change success
CrashNotification event host info failure
CreateProcessArgs state process start success
CreateService event host change success
CreateThreadNoStartImage event process start success
CreateThreadReflectiveDll event process change success
CriticalEnvironmentVariableChanged event configuration,host change success
CriticalFileAccessed alert file access success
CriticalFileModified alert file change success
CurrentSystemTags state host info success
CustomIOABasicProcessDetectionInfoEvent alert malware info unknown
DCSyncAttempted event configuration,iam access unknown
DcOffline event iam info success
DcOnline event iam info success
DcStatus state iam info success
DetectAnalysis alert malware info success
DetectionExcluded event configuration change,info success
DirectoryCreate event file creation success
DllInjection event process change success
DmpFileWritten event file creation success
DnsRequest event network protocol success
DocumentProgramInjectedThread event process access,change success
DriverLoad event driver start success
DwgFileWritten event file creation success
EarlyExploitPivotDetect event malware info unknown
ELFFileWritten event file creation success
EndOfProcess event process end success
ErrorEvent alert package info failure
EtwErrorEvent event package,host info failure
ExecutableDeleted event file deletion success
FalconHostRegTamperingInfo alert registry change unknown
FalconServiceStatus state package info unknown
FileCreateInfo event file creation success
FileDeleteInfo event file deletion success
FileDetectInfo alert file info unknown
FileInfo event file info unknown
FileOpenInfo event file access success
FileRenameInfo event file change success
FileSystemOperationBlocked event file change,deletion failure
FileSystemOperationDetectInfo alert file change,deletion unknown
FileTimestampsModified event file change success
FileWrittenWithEntropyHigh event file creation success
FirewallChangeOption event configuration,host change success
FirewallDeleteRule event configuration change success
FirewallDeleteRuleIP4 event configuration change success
FirewallDeleteRuleIP6 event configuration change success
FirewallDisabled event configuration,host change success
FirewallEnabled event configuration,host change success
FirewallSetRule event configuration change success
FirewallSetRuleIP4 event configuration change success
FirewallSetRuleIP6 event configuration change success
FirmwareAnalysisErrorEvent state host info failure
FirmwareAnalysisHardwareData state host info success
FirmwareAnalysisStatus state host info success
FlashThreadCreateProcess event process start success
FsPostOpenSnapshotFile event file access success
FsVolumeMounted event host change success
FsVolumeUnmounted event host change success
GenericFileWritten event file creation success
GroupIdentity event iam info,group success
GzipFileWritten event file creation success
HostInfo event host info success
HostedServiceStarted event process start success
HostedServiceStopped event process end success
HostnameChanged event host change success
HttpRequestDetect event network,session connection,start success
HttpVisibilityStatus state session info unknown
IOServiceRegister event package change success
ImageHash event process change success
InjectedThread event process change success
InjectedThreadFromUnsignedModule alert process change success
InstallBundleDownloadComplete event file creation success
InstallServiceDownloadComplete event file creation success
InstalledApplication event package installation success
InstalledBrowserExtension event package installation success
InstalledUpdates event host,package change,installation success
InstanceMetadata state host info unknown
IoSessionConnected event session start success
IoSessionLoggedOn event session end success
JarFileWritten event file creation success
JavaClassFileWritten event file creation success
JavaInjectedThread event process change success
KernelModeLoadImage event driver start success
KextLoad event driver start success
KextUnload event driver end success
LFODownloadConfirmation event file creation success
LfoUploadDataComplete event file change success
LfoUploadDataFailed event file change failure
LfoUploadDataUnneeded event file change failure
LocalIpAddressIP4 state configuration,host change success
LocalIpAddressIP6 state configuration,host change success
LocalIpAddressRemovedIP4 state configuration,host change success
LocalIpAddressRemovedIP6 state configuration,host change success
LsassHandleFromUnsignedModule alert process change unknown
MachOFileWritten event file change success
ManifestDownloadComplete event configuration,file change,creation success
ModifyServiceBinary alert file change unknown
ModuleBlockedEvent alert process,malware info,denied success
ModuleBlockedEventWithPatternId event process,malware info unknown
ModuleDetectInfo event process,malware info unknown
MountedVolume event file info success
NeighborListIP4 state host,network info unknown
NeighborListIP6 state host,network info unknown
NetShareAdd event host change success
NetShareDelete event host change success
NetShareSecurityModify event configuration change success
NetworkCloseIP4 event network end,connection unknown
NetworkCloseIP6 event network end,connection unknown
NetworkConnectIP4 event network start,connection unknown
NetworkConnectIP6 event network start,connection unknown
NetworkListenIP4 event network start success
NetworkListenIP6 event network start success
NetworkReceiveAcceptIP4 event network allowed,access,connection unknown
NetworkReceiveAcceptIP6 event network allowed,access,connection unknown
NewExecutableRenamed event file change success
NewExecutableWritten event file creation success
NewScriptWritten event file creation success
OciContainerTelemetry state host info unknown
OleFileWritten event file creation success
OoxmlFileWritten event file creation success
OsVersionInfo event host info success
PackedExecutableWritten event file creation success
PdfFileWritten event file creation success
PeFileWritten event file creation success
PeVersionInfo event file info success
PngFileWritten event file creation success
PrivilegedProcessHandleFromUnsignedModule alert process access success
ProcessBlocked alert process access failure
ProcessExecOnPackedExecutable alert process,file access success
ProcessExecOnSMBFile alert process,file,network access success
ProcessHandleOpDetectInfo alert process,malware info success
ProcessInjection event process change success
ProcessRollup2 event process start success
ProcessRollup2Stats state process info unknown
ProcessSelfDeleted event process end success
PromiscuousBindIP4 state host change success
PtyCreated event file creation success
QuarantineActionResult alert file info unknown
QuarantinedFile alert file change unknown
QuarantinedFileState alert file info unknown
QueueApcEtw alert file creation success
RansomwareCreateFile alert file creation success
RansomwareFileAccessPattern alert file access success
RansomwareOpenFile event file access success
RarFileWritten event file creation success
RawBindIP4 event network start,connection success
RawBindIP6 event network start,connection success
ReflectiveDllOpenProcess alert process access success
RegGenericValueUpdate event registry change success
RegSystemConfigValueUpdate event registry,host,configuration change success
RegisterRawInputDevicesEtw event host,configuration change success
RegistryOperationDetectInfo alert registry deletion success
RemoteBruteForceDetectInfo alert malware,authentication info success
RemovableDiskModuleLoadAttempt event configuration,host change success
RemovableMediaVolumeMounted event configuration,host change success
RtfFileWritten event file creation success
SAMHashDumpFromUnsignedModule alert registry,file access,creation success
ScheduledTaskDeleted event configuration deletion success
ScheduledTaskModified event configuration change success
ScheduledTaskRegistered event configuration creation success
ScreenshotTakenEtw event process access success
ScriptControlBlocked alert malware,file info success
ScriptControlDetectInfo alert malware,file info success
ScriptControlErrorEvent alert malware,file info failure
ScriptControlScanInfo state malware,file info success
ScriptControlScanTelemetry state malware,file info success
SensitiveWmiQuery event process info success
SensorHeartbeat event package info success
SensorSettingsUpdate event configuration change success
ServiceStarted event process start success
ServiceStopped event process end success
SetWinEventHookEtw event host,configuration change success
SevenZipFileWritten event file creation success
SignInfoError state file info failure
SignInfoWithCertAndContext state file info unknown
SignInfoWithContext state file info unknown
SmbClientNamedPipeConnectEtw event network connection success
SmbClientShareClosedEtw event network connection,end success
SmbClientShareOpenedEtw event network connection,start success
SmbServerShareOpenedEtw event network connection,start success
SmbServerV1AuditEtw state network connection unknown
SnapshotVolumeMounted event host,configuration change success
SuspiciousCreateSymbolicLink alert file creation,info success
SuspiciousDnsRequest alert network start,protocol success
SuspiciousEseFileWritten alert malware,file creation,info success
SuspiciousPrivilegedProcessHandle event process info success
SuspiciousRegAsepUpdate alert malware,registry,configuration change success
SuspiciousUserRemoteAPCAttempt alert malware,process info success
SyntheticProcessRollup2 event process start success
SystemCapacity state host info success
TarFileWritten event file creation success
TelemetryCounters2 state host info success
TelemetryNetworkConnections state network connection success
TelemetryStats state host info success
TerminateProcess event process end success
TokenImpersonated event process,authentication info,change success
UACCOMElevation event process,authentication info,change success
UACExeElevation event process,authentication info,change success
UACMSIElevation event process,authentication info,change success
UmppaErrorEvent event package info failure
UnsignedModuleLoad event library start success
UpdateManifestDownloadComplete event file creation success
UserAccountAddedToGroup event configuration,iam change,group success
UserAccountCreated event configuration,iam creation success
UserAccountDeleted event configuration,iam deletion success
UserExceptionDEP alert process,malware info success
UserFontLoad event configuration change success
UserIdentity event authentication,iam info,user success
UserLogoff event authentication end success
UserLogon event authentication start success
UserLogonFailed event authentication start failure
UserLogonFailed2 event authentication start failure
VolumeSnapshotCreated event file creation success
VolumeSnapshotDeleted event file deletion success
WfpFilterTamperingFilterAdded event configuration change success
WfpFilterTamperingFilterDeleted event configuration change success
WmiCreateProcess event process start success
WmiFilterConsumerBindingEtw event configuration change success
WmiProviderRegistrationEtw event configuration change success
WroteExeAndGeneratedServiceEvent alert process access success
XarFileWritten event file creation success
ZipFileWritten event file creation success
ChannelVersionRequired event configuration info success
DeliverLocalFXToCloud event file info success
LightningLatencyInfo state host info success
"""


def _parse(table: str) -> dict[str, Categorization]:
    out: dict[str, Categorization] = {}
    for row in table.strip().splitlines():
        name, kind, cats, types, outcome = row.split()
        out[name] = (kind, tuple(cats.split(",")), tuple(types.split(",")), outcome)
    return out


CATEGORIZATION: dict[str, Categorization] = _parse(_TABLE)

# event_platform → host.os.type
PLATFORM_OS = {"Win": "windows", "Lin": "linux", "Mac": "macos", "iOS": "ios", "And": "android"}

# network.iana_number → network.transport (the values Elastic's pipeline knows).
IANA_TRANSPORT = {
    "0": "hopopt", "1": "icmp", "2": "igmp", "6": "tcp", "8": "egp", "17": "udp", "47": "gre",
    "50": "esp", "58": "ipv6-icmp", "112": "vrrp", "132": "sctp",
}  # fmt: skip

# DnsRequest RequestType (decimal) → dns.question.type
DNS_TYPES = {
    "1": "A", "2": "NS", "5": "CNAME", "6": "SOA", "12": "PTR", "13": "HINFO", "15": "MX",
    "16": "TXT", "17": "RP", "18": "AFSDB", "24": "SIG", "25": "KEY", "28": "AAAA", "29": "LOC",
    "33": "SRV", "35": "NAPTR", "36": "KX", "37": "CERT", "39": "DNAME", "42": "APL", "43": "DS",
    "44": "SSHFP", "45": "IPSECKEY", "46": "RRSIG", "47": "NSEC", "48": "DNSKEY", "49": "DHCID",
    "50": "NSEC3", "51": "NSEC3PARAM", "52": "TLSA", "53": "SMIMEA", "55": "HIP", "59": "CDS",
    "60": "CDNSKEY", "61": "OPENPGPKEY", "62": "CSYNC", "63": "ZONEMD", "64": "SVCB",
    "65": "HTTPS", "108": "EUI48", "109": "EUI64", "249": "TKEY", "250": "TSIG", "256": "URI",
    "257": "CAA", "32768": "TA", "32769": "DLV",
}  # fmt: skip

# RegOperationType → event.action (Elastic's newer pipeline names the operation, not the event).
REG_OPERATION_ACTION = {
    "1": "modification", "2": "deletion", "3": "creation", "4": "deletion",
    "5": "modification", "6": "load", "7": "rename",
}  # fmt: skip

# RegType → registry.data.type
REG_VALUE_TYPES = {
    "0": "REG_NONE", "1": "REG_SZ", "2": "REG_EXPAND_SZ", "3": "REG_BINARY", "4": "REG_DWORD",
    "5": "REG_DWORD_BIG_ENDIAN", "6": "REG_LINK", "7": "REG_MULTI_SZ",
    "8": "REG_RESOURCE_LIST", "11": "REG_QWORD",
}  # fmt: skip

# Events whose ImageFileName is the loaded module (dll.*), not the acting process.
MODULE_LOAD_EVENTS = frozenset(
    {"DriverLoad", "KernelModeLoadImage", "ClassifiedModuleLoad", "UnsignedModuleLoad", "KextLoad"}
)

# SeverityName → event.severity, on the 0-100 scale Elastic Security uses for risk scores.
SEVERITY_NAME_SCORE = {
    "informational": 0, "info": 0, "low": 21, "medium": 47, "high": 73, "critical": 99,
}  # fmt: skip

# Windows mandatory integrity level RIDs → process.Ext.token.integrity_level_name
INTEGRITY_LEVELS = {
    "0": "UNTRUSTED", "4096": "LOW", "8192": "MEDIUM", "8448": "MEDIUM_PLUS",
    "12288": "HIGH", "16384": "SYSTEM", "20480": "PROTECTED",
}  # fmt: skip
