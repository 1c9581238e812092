//! QR codes for the 2FA enrolment: drawn on the server as SVG, so the browser runs no
//! third-party code and the secret never leaves the response that carries it.

use base64::Engine;
use qrcode::QrCode;
use qrcode::render::svg;

/// `text` as a QR code in an SVG `data:` URI, ready for an `<img src>`; `None` when the
/// text is too long for a QR code.
pub fn svg_data_uri(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let encoded = base64::engine::general_purpose::STANDARD.encode(image);
    Some(format!("data:image/svg+xml;base64,{encoded}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_otpauth_uri_becomes_an_svg_image() {
        let uri = svg_data_uri("otpauth://totp/Dango:a%40b.c?secret=JBSWY3DPEHPK3PXP&issuer=Dango")
            .expect("fits a QR code");
        let encoded = uri
            .strip_prefix("data:image/svg+xml;base64,")
            .expect("data URI");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        let svg = String::from_utf8(decoded).expect("utf-8");
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    }

    #[test]
    fn text_too_long_for_a_qr_code_is_refused() {
        assert!(svg_data_uri(&"x".repeat(5000)).is_none());
    }
}
