#pragma once
// A bounded walk over a DICOM file's element headers before GDCM reads it. GDCM trusts what
// a file declares: it allocates an element's declared length before finding the bytes
// missing (1.3 GB for a 1 KB file), and Debian's build asserts (aborting the process) on
// an unknown VR in the file meta header. This is not a DICOM parser: it reads only tags,
// VRs and lengths, never values, and leaves decoding to GDCM.

#include <string>

namespace ampbench {

// Throws DecodeError ("not a valid DICOM: ...") when the file is not one GDCM may be given:
// no "DICM" marker and no DICOM element at the start; a VR that is not one of the standard
// two-letter codes (file meta header, and an explicit-VR dataset); an element, item or
// pixel data fragment declaring more bytes than the file has left; an undefined length
// where the standard does not allow one. Walks the file meta group, then the dataset's
// elements including sequences and encapsulated pixel data fragments; stops checking
// (accepts) at a deflated dataset and inside an undefined-length UN (implicit VR inside).
// Also refused, because Debian's GDCM asserts on them: a VR other than the dictionary's on
// the image pixel module's attributes, impossible Samples per Pixel / Bits values, an SQ in
// the meta header, a file ending in an element header or right after the meta header. A file ending inside an element header is refused (GDCM
// asserts on a VR cut short).
void checkDicomStructure(const std::string& path);

// The same check as a yes/no, for probing whether an extension-less file is DICOM.
bool dicomStructureValid(const std::string& path);

}  // namespace ampbench
